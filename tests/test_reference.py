"""The config reference: `dltrain schema` (a table), `--markdown` (docs/config.md), `--json` (JSON Schema)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO

from dltrain.config.reference import reference
from dltrain.config.schema import Config

DOC = REPO / "docs" / "config.md"


def test_docs_config_md_is_what_the_schema_generates(cli):
    result = cli("schema", "--markdown")
    assert result.exit_code == 0
    assert DOC.read_text() == result.stdout, "docs/config.md is stale: dltrain schema --markdown > docs/config.md"


def all_rows():
    return [row for part in reference(Config) for row in part.rows]


def test_every_key_has_a_type_a_default_and_a_meaning():
    for row in all_rows():
        assert row.type and row.default and row.meaning, row


def schema_properties() -> set[str]:
    """Every key name in the JSON Schema, section by section (the choice tags aside)."""
    names = set(Config.model_json_schema()["properties"])
    for section in Config.model_json_schema()["$defs"].values():
        for name, prop in section.get("properties", {}).items():
            if "const" not in prop and prop.get("enum", [None, None])[1:] != []:  # a tag: one value only
                names.add(name)
    return names


def test_the_reference_lists_every_key_of_the_schema():
    listed = {row.key.rsplit(".", 1)[-1] for row in all_rows()}
    assert schema_properties() - listed == set()


def test_a_choice_lists_its_shared_keys_once_and_each_choice_its_own():
    parts = {part.title: part for part in reference(Config)}
    shared = parts["`dataset`: keys of every choice"]
    assert [r.key for r in shared.rows] == [
        "dataset.split_seed",
        "dataset.validation_split",
        "dataset.stratify",
        "dataset.scaling",
    ]
    mnist = parts["`dataset.name: mnist`"]
    assert "dataset.n_train" in [r.key for r in mnist.rows] and "dataset.split_seed" not in [r.key for r in mnist.rows]
    adam = {r.key: r for r in parts["`training.optimizer.name: adam`"].rows}
    assert (
        adam["training.optimizer.lr"].default == "0.001" and adam["training.optimizer.beta2"].type == "float >= 0, < 1"
    )
    he = parts["`model.init.name: he` (also `model.bias_init`)"]
    assert "kaiming_normal_" in he.intro and he.rows == []
    mlp = {r.key: r for r in parts["`model.type: mlp`"].rows}
    assert mlp["model.init"].default == "he" and mlp["model.hidden"].type == "list of int > 0, non-empty"


def test_schema_prints_a_readable_table_by_default(cli):
    result = cli("schema")
    assert result.exit_code == 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("key"))
    assert [word for word in header.replace("┃", " ").split()] == ["key", "type", "default", "meaning"]
    epochs = next(line for line in lines if line.startswith("training.epochs "))
    assert "int > 0" in epochs and "100" in epochs and "passes over the training split" in epochs
    assert any(line.startswith("dataset.name: mnist") for line in lines)


def test_schema_takes_one_format(cli):
    result = cli("schema", "--json", "--markdown")
    assert result.exit_code == 2 and "choose one" in result.stderr
