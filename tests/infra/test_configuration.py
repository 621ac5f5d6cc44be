"""docs/configuration.md lists exactly the settings taskcenter/settings.py defines, and template.yaml's environment
comes from them (docs/configuration.md; `make configuration` regenerates the document)."""

from __future__ import annotations

import re
from pathlib import Path

from taskcenter import config, settings

from infra import configuration, function_settings
from infra import template as generator
from infra.local import cfn

ROOT = Path(__file__).resolve().parents[2]


def documented_variables() -> list[str]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    settings_table = text.split("## AWS wiring")[0]
    return re.findall(r"^\| `([A-Z0-9_]+)` \(`[a-z0-9_]+`\)", settings_table, re.M)


def test_configuration_md_is_what_make_configuration_generates():
    assert (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8") == configuration.render(), (
        "docs/configuration.md differs from layers/taskcenter/settings.py or its readers: run make configuration")


def test_the_document_lists_exactly_the_settings_the_object_defines():
    assert documented_variables() == [spec.metadata["env"] for spec in settings.SETTINGS]
    assert len(set(settings.ENV_NAMES)) == len(settings.ENV_NAMES), "two settings share a variable"


def test_every_read_names_a_setting_and_every_setting_is_read():
    found, problems = configuration.reads()
    assert problems == []
    unread = [spec.name for spec in settings.SETTINGS if spec.name not in found and not spec.metadata["read_by"]]
    assert unread == [], f"settings no code reads (delete them or read them): {unread}"


def test_no_code_reads_a_setting_s_variable_around_the_object():
    """The variables are read in settings.py only (config.py reads the AWS wiring, none of them)."""
    offenders = []
    for _, file in configuration._modules():
        if file.name == "settings.py":
            continue
        text = file.read_text(encoding="utf-8")
        offenders += [f"{file.relative_to(ROOT)}: {name}" for name in settings.ENV_NAMES if f'"{name}"' in text]
    assert offenders == []


def test_template_environment_is_the_settings_it_sets_plus_the_aws_wiring():
    template = cfn.load_template(ROOT / "template.yaml")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    wiring = {*config.TABLE_ENV.values(), *config.QUEUE_ENV.values(), config.RESULTS_BUCKET_ENV}
    own = {logical: res["Properties"].get("Environment", {}).get("Variables", {})
           for logical, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"}
    assert set(variables) - wiring | {v for env in own.values() for v in env} == \
        {settings.env_name(name) for name in generator.SETTING_VALUES}
    for name, value in generator.SETTING_VALUES.items():
        for env in [variables, *own.values()]:
            assert env.get(settings.env_name(name), value) == value, name


def test_each_function_is_given_exactly_the_settings_it_sets_that_its_code_reads():
    """Globals holds what every function reads; a function's own Environment the rest of what it reads."""
    template = cfn.load_template(ROOT / "template.yaml")
    shared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    specs = generator.app_functions(generator.load_app())
    reading = function_settings.by_function(specs)
    for spec in specs:
        props = template["Resources"][spec.logical_id]["Properties"]
        given = shared | set(props.get("Environment", {}).get("Variables", {}))
        wanted = {settings.env_name(n) for n in generator.SETTING_VALUES if n in reading[spec.logical_id]}
        assert given & set(settings.ENV_NAMES) == wanted, spec.logical_id
    mj_image, poll_worker = reading["MjGetMjImageFunction"], reading["JobsPollWorkerFunction"]
    assert {"mj_forward_images", "public_base_url"} <= mj_image
    assert "mj_forward_images" in poll_worker  # a notifyHook's task object names the image URL (docs/webhooks.md)
    assert "sweep_limit" in reading["JobsTimeoutSweeperFunction"] and "sweep_limit" not in mj_image


def test_a_function_s_closure_follows_parent_packages_and_the_composition_root():
    """Loading functions.user loads functions/__init__ (the composition root), and through it the platform
    table: what the user's route can run without importing it by name."""
    closure = function_settings.loaded_by("functions.user")
    assert {"functions", "functions._composition", "taskcenter.services.platforms"} <= closure
    assert "functions.mj" not in closure


def test_every_module_that_reads_a_setting_is_loaded_by_some_function():
    """A reader no function loads would be a hole in the derivation (or dead code): none."""
    loaded = set().union(*(function_settings.loaded_by(spec.module)
                           for spec in generator.app_functions(generator.load_app())))
    assert set(function_settings.reads_by_module()) - loaded == set()


def test_template_parameters_default_to_the_settings_defaults():
    parameters = cfn.load_template(ROOT / "template.yaml")["Parameters"]
    defaults = settings.Settings()
    checked = 0
    for name, value in generator.SETTING_VALUES.items():
        default = getattr(defaults, name)
        if isinstance(value, dict) and set(value) == {"Ref"} and not isinstance(default, dict):
            shown = str(default).lower() if isinstance(default, bool) else default
            assert parameters[value["Ref"]]["Default"] == shown, name
            checked += 1
    assert checked >= 4  # LogLevel, TaskTimeoutSeconds, PublicBaseUrl, ForwardMidjourneyImages
