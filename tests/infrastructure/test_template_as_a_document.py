"""template.yaml reads as a document: a banner over every section, every parameter grouped and labelled for
the console, and one naming scheme for the alarms."""

from __future__ import annotations

import re
from typing import Any

from local_stack.template import TEMPLATE_PATH, load_template

BANNER = re.compile(r"^ {0,2}# === .+ =+$")


def test_every_parameter_is_in_exactly_one_group_and_has_a_label() -> None:
    template = load_template()
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [name for group in interface["ParameterGroups"] for name in group["Parameters"]]
    parameters = set(template["Parameters"])

    assert sorted(grouped) == sorted(parameters), "each parameter once, in some group"
    assert set(interface["ParameterLabels"]) == parameters
    assert all(label["default"].strip() for label in interface["ParameterLabels"].values())
    assert all(group["Label"]["default"].strip() for group in interface["ParameterGroups"])


def test_every_section_and_every_resource_sits_under_a_banner() -> None:
    lines = TEMPLATE_PATH.read_text().splitlines()
    top_level = [index for index, line in enumerate(lines) if re.match(r"^[A-Z][A-Za-z]+:", line)]
    sections = [lines[index].split(":")[0] for index in top_level]
    for index in top_level:
        if lines[index].startswith(("AWSTemplateFormatVersion", "Transform", "Description")):
            continue
        assert BANNER.match(lines[index - 1]), f"no banner above {lines[index]!r}"
    resources_at = top_level[sections.index("Resources")]
    resources_end = top_level[sections.index("Resources") + 1]
    banner_seen = False
    for line in lines[resources_at + 1 : resources_end]:
        banner_seen = banner_seen or bool(BANNER.match(line))
        if re.match(r"^  [A-Za-z0-9]+:\s*$", line):
            assert banner_seen, f"{line.strip()} comes before any section banner"


def alarms() -> dict[str, Any]:
    return {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_alarms_share_one_naming_scheme() -> None:
    assert alarms()
    for name, alarm in alarms().items():
        assert name.endswith("Alarm"), name
        alarm_name = alarm["Properties"]["AlarmName"]["Fn::Sub"]
        assert re.fullmatch(r"scheduler-control-\$\{Stage\}-[a-z0-9]+(-[a-z0-9]+)*", alarm_name), alarm_name


def test_the_dashboard_body_has_one_metric_a_line() -> None:
    body = load_template()["Resources"]["SchedulerDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for line in body.splitlines():
        assert line.count('["AWS/') + line.count('["SchedulerControl"') <= 1, line
