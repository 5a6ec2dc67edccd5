#!/usr/bin/env sh
# Makes the two key files the services read, for docker compose (deploy/secrets/) or for a Kubernetes Secret:
#   secrets/jwt_private.pem   RSA-2048 private key, PKCS#8 PEM (JINGZHUN_JWT_PRIVATE_KEY_FILE): signs all tokens
#   secrets/pii.key           32 random bytes, base64 (JINGZHUN_PII_KEY_FILE): encrypts personal data (shared/pii.py)
# Existing files are kept: replacing the PII key makes stored personal data unreadable, and replacing the
# JWT key logs everybody out (see README.md, "Key rotation").
set -eu
dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
chmod 0700 "$dir"                      # the directory guards the keys on the host ...
if [ ! -s "$dir/jwt_private.pem" ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/jwt_private.pem"
  echo "created $dir/jwt_private.pem"
fi
if [ ! -s "$dir/pii.key" ]; then
  openssl rand -base64 32 > "$dir/pii.key"
  echo "created $dir/pii.key"
fi
# ... and the files stay readable for the containers' non-root user (uid 10001): compose bind-mounts them as they are.
chmod 0644 "$dir/jwt_private.pem" "$dir/pii.key"
