"""The rule engine lives in the SDK and must stay importable without Django: it runs on developers' machines."""

import subprocess
import sys

from django.conf import settings


def test_the_rules_package_imports_and_runs_without_django():
    code = (
        "import sys\n"
        "from nofx_sdk.rules import PackageContext, read_package, validate_package\n"
        "findings = validate_package(read_package(b'not a zip'), PackageContext())\n"
        "assert findings[0].rule_id == 'MKT-V001', findings\n"
        "assert not any(name == 'django' or name.startswith('django.') for name in sys.modules), 'django imported'\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR / "sdk" / "src")}

    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
