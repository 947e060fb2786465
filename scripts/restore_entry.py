"""`make restore-entry STACK=name`: put back a missing scheduler entry, PAUSED, through the deploy's own
create-if-missing code (store.create_if_missing: a conditional PutItem that never overwrites an entry).

The fleet is failing closed while the entry is missing; the restored entry keeps it paused until someone has
read the switch's last state from the audit log and resumes it (`scheduler resume`). Runs with the operator's
AWS credentials, which need dynamodb:PutItem on the table; the write is recorded as operator:<caller ARN>.

    python scripts/restore_entry.py --stack scheduler-control-prod [--profile P] [--region R]
    python scripts/restore_entry.py --table scheduler-control-prod-SchedulerTable-ABC123
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from botocore.session import Session

ROOT = Path(__file__).resolve().parent.parent


def table_of_stack(stack: str, profile: str | None, region: str | None) -> str:

    cloudformation: Any = Session(profile=profile).create_client("cloudformation", region_name=region)
    (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    return str(outputs["TableName"])


def caller_arn(profile: str | None, region: str | None) -> str:

    sts: Any = Session(profile=profile).create_client("sts", region_name=region)
    return str(sts.get_caller_identity()["Arn"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="the stack whose TableName output holds the entry")
    target.add_argument("--table", help="the table itself")
    parser.add_argument("--profile")
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    table = args.table or table_of_stack(args.stack, args.profile, args.region)
    os.environ["TABLE_NAME"] = table
    from scheduler_service import store  # noqa: PLC0415 - the function's modules read the environment at import: set first

    created = store.create_if_missing(actor=f"operator:{caller_arn(args.profile, args.region)}", is_paused=True)
    if created:
        print(f"Restored the scheduler entry in {table}: PAUSED, version 1. Resume it when you know it should run.")
    else:
        print(f"The scheduler entry in {table} is there; nothing written.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
