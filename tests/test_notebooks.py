"""The notebooks are committed clean and parameterisable by papermill."""
import ast
import json

import pytest

from deblur_utils.runtime.paths import NOTEBOOKS, notebooks_dir


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_has_a_literal_parameters_cell_and_no_outputs(name):
    nb = json.loads((notebooks_dir() / f"{name}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "commit without outputs"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    tree = ast.parse("".join(tagged[0]["source"]))
    names = []
    for node in tree.body:  # plain `name = literal`: what papermill and nbmake can read and override
        assert isinstance(node, ast.Assign)
        ast.literal_eval(node.value)
        names.append(node.targets[0].id)
    assert names[0] == "param_set"
