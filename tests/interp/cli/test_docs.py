import re

import pytest

from interp.cli.docs import main


@pytest.mark.slow
def test_the_api_reference_has_every_public_name_and_opens_in_chromium(tmp_path):
    import interp
    from tests.browser import render, require_browser
    from tests.test_architecture import modules

    require_browser()
    assert main(["--out", str(tmp_path)]) == 0
    api = tmp_path / "api"
    ids = set(re.findall(r'id="([\w.]+)"', (api / "interp.html").read_text()))
    assert not [n for n in interp.__all__ if n not in ids]
    library = [n for n in modules() if n.count(".") >= 1 and not n.startswith(("interp.cli", "interp.runs."))]
    pages = [n for n in library if n.split(".")[1] in ("models", "hooks", "interventions", "context", "core")]
    missing = [n for n in pages if not (api / (n.replace(".", "/") + ".html")).is_file()]
    assert pages and not missing, missing
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', (api / "interp.html").read_text())
    seen = render(api / "interp.html", 0, tmp_path / "api.png")
    assert seen["errors"] == [] and (tmp_path / "api.png").stat().st_size > 10_000


def test_an_existing_reference_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "index.html").write_text("mine")
    assert main(["--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "api" / "index.html").read_text() == "mine"
