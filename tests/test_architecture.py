"""The import rule (DESIGN §3): shared imports no service; no service imports another."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    result = subprocess.run([Path(sys.executable).parent / "lint-imports", "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_services_do_not_reach_into_each_other_by_string_either():
    services = ["gateway", "registry", "funds", "notifications"]
    for own in services:
        for path in (ROOT / "services" / own).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for other in services:
                if other != own:
                    assert f"services.{other}" not in text, f"{path} names services.{other}"
