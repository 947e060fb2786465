"""The Docker-free local stack: DynamoDB Local, the table from template.yaml, SAM's own local gateway, an MQTT
broker and the stream feed. It runs the function's package (``scheduler_service``) as it is installed."""
