"""What a newcomer reads first after `git clone`: links that resolve inside the clone, and a dependency
list without packages the code never imports."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT

# Distribution name -> the module it installs, where they differ; executor plugins are loaded by
# Snakemake itself (profiles/*/config.yaml name them), not imported by the code.
MODULES = {"scikit-image": "skimage", "pillow": "PIL", "pypng": "png", "pyyaml": "yaml", "pytorch-fid": "pytorch_fid"}
PLUGINS = ("snakemake-executor-plugin-",)


def test_readme_links_resolve_inside_the_repository():
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path = (doc.parent / target).resolve()
            assert path.is_relative_to(ROOT), f"{doc.name}: link {target} leaves the repository"
            assert path.exists(), f"{doc.name}: link {target} does not exist"


def test_every_declared_dependency_is_imported():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The package, and the benchmarks and tests (`make bench` and `make test` use the same install).
    source = "\n".join(p.read_text() for d in ("workflow", "bench", "tests") for p in (ROOT / d).rglob("*.py"))
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        if name.startswith(PLUGINS):
            assert name.removeprefix("snakemake-executor-plugin-") in "\n".join(
                p.read_text() for p in (ROOT / "profiles").glob("*/config.yaml")
            ), name
            continue
        module = MODULES.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {re.escape(module)}\b", source, re.M), f"{name} is never imported"


def test_no_rule_offers_conda_deployment():
    """Conda deployment is not offered: its environment installed the package with `-e ../` (which
    resolves inside .snakemake/conda/ once Snakemake copies the file), and common.smk imports cycleaug
    while parsing, so Snakemake runs in the venv anyway."""
    for smk in (ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))):
        assert not re.search(r"^\s+conda:", smk.read_text(), re.M), smk.name
    readme = (ROOT / "README.md").read_text()
    assert "deployment-method conda" not in readme and "--use-conda" not in readme
