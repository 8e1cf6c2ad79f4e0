"""Load a script of scripts/ as a module, so tests call its functions (the scripts are not a
package)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from annas_gift.routing.corpus import default_data_dir

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(filename: str) -> ModuleType:
    """scripts/<filename>, imported under its stem (registered in sys.modules first: a script's
    dataclasses look their module up there)."""
    path = SCRIPTS / filename
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def assert_writes_the_vendored_file(
    generator: ModuleType, rows: list[dict[str, object]], tmp_path: Path
) -> None:
    """A data generator's `rows` are its vendored file's (data/routing/train/<SOURCE>), and its
    `main` writes that file byte for byte (gzip without a timestamp: the classifier's artifact
    records the data's sha256)."""
    vendored = default_data_dir() / "train" / f"{generator.SOURCE}.jsonl.gz"
    out = tmp_path / vendored.name
    with gzip.open(vendored, "rt", encoding="utf-8") as fh:
        assert [json.loads(line) for line in fh] == rows
    generator.main(["--out", str(out)])
    assert out.read_bytes() == vendored.read_bytes()
