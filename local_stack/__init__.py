"""The Docker-free local stack: DynamoDB Local, the table from template.yaml, and SAM's own local gateway."""
