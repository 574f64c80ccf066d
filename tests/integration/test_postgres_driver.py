"""A PostgreSQL URL without its driver installed says which extra brings it."""

from __future__ import annotations

from support.cli import run_python


def test_a_missing_driver_names_the_extra() -> None:
    # `sys.modules[name] = None` makes `import psycopg` fail as on a host without it.
    probe = (
        "import sys; sys.modules['psycopg'] = None; "
        "from tossd.errors import StoreError; from tossd.store.engine import create_engine\n"
        "try:\n"
        "    create_engine('postgresql://tossd:pw-s3cret@127.0.0.1/tossd')\n"
        "except StoreError as exc:\n"
        "    print(exc.message)\n"
    )
    out = run_python(probe, check=True).stdout
    assert "pip install 'tossd[postgres]'" in out
    assert "psycopg" in out
    assert "pw-s3cret" not in out


def test_postgresql_urls_mean_psycopg_3() -> None:
    probe = (
        "from tossd.store.engine import create_engine; "
        "print(create_engine('postgresql://u:p@127.0.0.1/tossd').dialect.driver)"
    )
    assert run_python(probe, check=True).stdout.strip() == "psycopg"
