"""The county dashboard (``/dashboard``): one static page and its assets, served by the gateway, that signs in
with the gateway's token endpoint and reads the existing statistics APIs with the user's own token."""
