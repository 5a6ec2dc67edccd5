"""The import rule (DESIGN §3): shared imports no service; no service imports another; only the composition root
(``jingzhun/``) puts them together."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    result = subprocess.run([Path(sys.executable).parent / "lint-imports", "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_services_do_not_reach_into_each_other_by_string_either():
    services = ["gateway", "registry", "funds", "notifications"]
    for own in services:
        for path in (ROOT / "services" / own).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for other in services:
                if other != own:
                    assert f"services.{other}" not in text, f"{path} names services.{other}"


def test_shared_does_not_name_a_service_even_in_a_string():
    """``importlib.import_module("services.…")`` would pass the import linter; it is still a dependency."""
    roots = [p.stem for p in (ROOT / "jingzhun").glob("*.py")]
    for path in (ROOT / "shared").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])services\.(\{|gateway\b|registry\b|funds\b|notifications\b)", text), \
            f"{path} names a service module"
        assert not re.search(rf"(?<![\w.])jingzhun\.({'|'.join(roots)})\b|from jingzhun\b|import jingzhun\b", text), \
            f"{path} names the composition root"


def test_arq_and_jose_each_sit_behind_one_module():
    owners = {"arq": ROOT / "shared" / "queue.py", "jose": ROOT / "shared" / "jwt.py"}
    for package, owner in owners.items():
        for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
            if path == owner:
                continue
            text = path.read_text(encoding="utf-8")
            assert f"from {package}" not in text and f"import {package}" not in text, f"{path} uses {package}"
