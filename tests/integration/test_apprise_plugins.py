"""Apprise's plugins are imported one by one, for the schemes tossd's URLs use.

Each check runs in a fresh interpreter: the registry is process-wide, and a test that loaded
every plugin would hide what this one is about.
"""

from __future__ import annotations

import json

from support.cli import run_python

LOADED = """
import json, sys
from tossd.notify.apprise.kinds import validate_url
reasons = [validate_url(url) for url in sys.argv[1:]]
plugins = sorted({m.split(".")[2] for m in sys.modules if m.startswith("apprise.plugins.")})
print(json.dumps({"reasons": reasons, "plugins": plugins, "requests": "requests" in sys.modules}))
"""


def loaded(*urls: str) -> dict[str, object]:
    proc = run_python(LOADED, *urls)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_only_the_plugins_of_the_configured_schemes_are_imported() -> None:
    result = loaded(
        "mailto://127.0.0.1:2525?from=tossd@example.com&to=you@example.com&mode=insecure",
        "json://127.0.0.1:8080/notify",
        "tossd-file:///var/lib/tossd/outbox",
    )
    assert result["reasons"] == [None, None, None]
    assert result["plugins"] == ["base", "custom_json", "email"]
    assert result["requests"] is True  # the JSON plugin posts with requests


def test_a_folder_target_alone_imports_no_plugin_and_no_http_library() -> None:
    result = loaded("tossd-file:///var/lib/tossd/outbox")
    assert result == {"reasons": [None], "plugins": ["base"], "requests": False}


def test_a_scheme_the_source_scan_cannot_place_still_loads() -> None:
    """Kodi computes its schemes; the registry is then loaded whole, as Apprise would."""
    result = loaded("kodi://127.0.0.1", "xbmc://127.0.0.1")
    assert result["reasons"] == [None, None]
    assert len(result["plugins"]) > 100  # type: ignore[arg-type]


def test_an_unknown_scheme_is_refused_with_a_suggestion() -> None:
    result = loaded("slakc://T000/B000/XXXX")
    assert result["reasons"] == [
        "no Apprise service uses the scheme slakc:// (did you mean slack://?)"
    ]


COMPARED = """
import json, logging, sys
from tossd.notify.apprise.catalogue import plugin_modules
from tossd.notify.apprise import plugins
errors = []
class Keep(logging.Handler):
    def emit(self, record): errors.append(record.getMessage())
plugins.LOGGER.addHandler(Keep(logging.WARNING))
placed = plugin_modules(plugins._PLUGINS_DIR)
first = plugins.ensure("slack") and plugins.ensure("mailto")
plugins.load_all()
real = {s: plugins.PLUGINS[s].__module__.split(".")[2] for s in plugins.PLUGINS.schemas()}
print(json.dumps({"first": first, "placed": placed, "real": real, "errors": errors}))
"""


def test_the_source_scan_never_names_a_wrong_module_and_places_nearly_all() -> None:
    proc = run_python(COMPARED)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    placed, real = result["placed"], result["real"]
    assert result["first"] is True
    wrong = {s: (placed[s], real[s]) for s in real if s in placed and placed[s] != real[s]}
    assert wrong == {}
    assert set(placed) <= set(real)  # a placed scheme exists (the class check is extra)
    # Kodi, D-Bus and a few others compute theirs; they load everything (test above).
    assert len(placed) >= 0.95 * (len(real) - 1)  # tossd's folder scheme is not Apprise's
    # Loading the rest after some were added on their own complains of nothing.
    assert result["errors"] == []
