"""The dbt project as Dagster sees it, and the preparation of its manifest.

The manifest is prepared when the project is set up (``make setup``, CI) by
``python -m hk_pipelines.defs.marts.project``; in production a missing manifest is an error,
never a ``dbt parse`` at import. Locally a missing or stale manifest is prepared on load, so
editing a model and reloading the code location just works.
"""

import logging
import os
import subprocess
from pathlib import Path

from dagster_dbt import DbtProject

from hk_core.dbt_env import DBT_PROJECT_DIR, dbt_executable, static_dbt_env
from hk_core.settings import get_settings

log = logging.getLogger(__name__)

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_SOURCES = ("models", "macros", "tests", "dbt_project.yml", "profiles.yml")


def manifest_is_stale() -> bool:
    if not MANIFEST.exists():
        return True
    built = MANIFEST.stat().st_mtime
    for name in _SOURCES:
        path = DBT_PROJECT_DIR / name
        files = [path] if path.is_file() else path.rglob("*")
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return True
    return False


def prepare_manifest() -> Path:
    """``dbt parse`` into dbt_project/target (no database connection needed)."""
    # The manifest must not depend on who prepared it: relation names carry the database.
    env = static_dbt_env(dict(os.environ))
    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR)],
        check=True,
        env=env,
        cwd=DBT_PROJECT_DIR,
    )
    return MANIFEST


def ensure_manifest() -> None:
    if not manifest_is_stale():
        return
    if get_settings().environment == "production":
        raise RuntimeError(
            f"{MANIFEST} is missing or older than the dbt models; prepare it at build time "
            "(python -m hk_pipelines.defs.marts.project)"
        )
    log.info("preparing the dbt manifest (dbt parse)")
    prepare_manifest()


ensure_manifest()
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


if __name__ == "__main__":
    print(prepare_manifest())
