"""The app's Streamlit settings, read the way Streamlit reads them when `streamlit run app.py` starts in the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ("server.enableXsrfProtection", "server.maxUploadSize", "client.showErrorDetails", "server.enableCORS",
           "browser.gatherUsageStats", "server.maxMessageSize")
READ = f"""
import json
from streamlit import config
config.get_config_options(force_reparse=True)
print(json.dumps({{name: [config.get_option(name), config.get_where_defined(name)] for name in {OPTIONS!r}}}))
"""


def _options(tmp_path) -> dict:
    # A clean HOME so a developer's ~/.streamlit/config.toml cannot hide what the repo's file says.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", READ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_repo_config_turns_on_xsrf_caps_uploads_and_hides_error_details(tmp_path):
    options = _options(tmp_path)
    config_file = str(ROOT / ".streamlit" / "config.toml")
    xsrf, where = options["server.enableXsrfProtection"]
    assert xsrf is True and where == config_file
    size, where = options["server.maxUploadSize"]
    assert where == config_file and 1 <= size <= 200  # megabytes; the data reader's own limit is 200 MB too
    details, where = options["client.showErrorDetails"]
    assert details == "none" and where == config_file  # users see a short message, never a traceback
    assert options["browser.gatherUsageStats"][0] is False


def test_the_upload_limit_matches_the_readers(tmp_path):
    from rnnstudio.data.read import MAX_FILE_BYTES

    assert _options(tmp_path)["server.maxUploadSize"][0] * 1024**2 <= MAX_FILE_BYTES
