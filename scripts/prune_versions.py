"""`make prune-versions STACK=name [KEEP=5]`: delete the scheduler function's old Lambda versions.

Every deploy that changes the code publishes a version (AutoPublishAlias), and Lambda keeps each one until it is
deleted. This keeps the version the `live` alias points at, every version its routing still sends traffic to
(a canary in progress), and the KEEP newest others (the ones to roll back to by hand); it deletes the rest,
printing each. `--dry-run` prints them only. Needs lambda:GetAlias, lambda:ListVersionsByFunction and
lambda:DeleteFunction on the function, and cloudformation:DescribeStackResource on the stack.

    python scripts/prune_versions.py --stack scheduler-control-prod [--keep 5] [--dry-run] [--profile P]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from botocore.session import Session

ALIAS = "live"


def versions_to_delete(published: Iterable[str], protected: set[str], keep: int) -> list[str]:
    """The published versions to delete, oldest first: all but the protected ones and the `keep` newest others."""
    numbered = sorted((int(version) for version in published if version.isdigit()), reverse=True)
    others = [version for version in numbered if str(version) not in protected]
    return [str(version) for version in sorted(others[keep:])]


def protected_versions(alias: dict[str, Any]) -> set[str]:
    """The alias's version and every version its routing configuration still weighs."""
    weighted = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    return {str(alias["FunctionVersion"]), *map(str, weighted)}


def published_versions(lambda_client: Any, function: str) -> list[str]:
    pages = lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
    return [entry["Version"] for page in pages for entry in page["Versions"] if entry["Version"] != "$LATEST"]


def prune(lambda_client: Any, function: str, keep: int, dry_run: bool, out: Any = sys.stdout) -> list[str]:
    protected = protected_versions(lambda_client.get_alias(FunctionName=function, Name=ALIAS))
    doomed = versions_to_delete(published_versions(lambda_client, function), protected, keep)
    for version in doomed:
        if not dry_run:
            lambda_client.delete_function(FunctionName=function, Qualifier=version)
        print(f"{'would delete' if dry_run else 'deleted'} {function}:{version}", file=out)
    print(f"kept the alias {ALIAS} ({', '.join(sorted(protected, key=int))}) and {keep} newest others", file=out)
    return doomed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--keep", type=int, default=5, help="newest versions to keep besides the alias's (default 5)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be deleted, delete nothing")
    parser.add_argument("--profile")
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    if args.keep < 0:
        parser.error("--keep must be 0 or more")

    session = Session(profile=args.profile)
    cloudformation: Any = session.create_client("cloudformation", region_name=args.region)
    resource = cloudformation.describe_stack_resource(StackName=args.stack, LogicalResourceId="SchedulerFunction")
    function = resource["StackResourceDetail"]["PhysicalResourceId"]
    prune(session.create_client("lambda", region_name=args.region), function, args.keep, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
