"""The Python 3.12+ shim: boto imports, its plugins load, and no `imp` is left behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from mimicdb.compat import needs_shim

ROOT = Path(__file__).resolve().parents[2]


def test_needs_shim_from_312_on() -> None:
    assert [needs_shim(v) for v in [(3, 11), (3, 12), (3, 13)]] == [False, True, True]


def test_boto_imports_and_loads_its_plugins(tmp_path: Path) -> None:
    """boto.plugin is what needed `imp`: a plugin directory in the boto config loads."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "marker.py").write_text(
        "import os\nopen(os.environ['PLUGIN_MARK'], 'w').write('loaded')\n"
    )
    config = tmp_path / "boto.cfg"
    config.write_text(f"[Plugin]\nplugin_directory = {plugins}\n")
    mark = tmp_path / "mark"
    script = textwrap.dedent(
        """
        import sys
        import mimicdb.s3.connection, mimicdb.s3.bucket, mimicdb.s3.key
        import boto.s3.multipart, boto.s3.bucketlistresultset
        print(boto.__version__, 'imp' in sys.modules)
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "BOTO_CONFIG": str(config),
        "PLUGIN_MARK": str(mark),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    version, imp_left = done.stdout.split()
    assert version == "2.49.0"
    assert mark.read_text() == "loaded"
    if needs_shim():
        assert imp_left == "False"  # the stand-in was lent for boto's import only


def test_vendored_six_is_the_maintained_six_on_312() -> None:
    import boto.compat

    if needs_shim():
        import six

        assert boto.compat.six is six
    assert boto.compat.urlparse("http://h/p").path == "/p"
