"""The peer of genrelay-api-jobs' create: what teams write today, a Python 3 + boto3 Lambda
handler doing the same work. At init it reads the API keys from SSM (a SecureString, as the
template gives them to api-jobs) and builds its DynamoDB and SQS clients; a create checks the
bearer key and the body, puts the job item (conditional on its absence) and sends the dispatch
message. It runs as a custom runtime against the Lambda Runtime API (as genrelay's binaries do),
so the harness measures both the same way; AWS's managed Python runtime would add its own
bootstrap on top.
"""

import datetime
import json
import os
import urllib.request
import uuid

import boto3

RUNTIME = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
TABLE = os.environ["GENRELAY_TABLE"]
QUEUE = os.environ["GENRELAY_DISPATCH_QUEUE_URL"]

# Lambda sets AWS_REGION; boto3 reads AWS_DEFAULT_REGION.
session = boto3.session.Session(region_name=os.environ["AWS_REGION"])
ssm = session.client("ssm")
dynamodb = session.client("dynamodb")
sqs = session.client("sqs")
keys_text = ssm.get_parameter(Name=os.environ["ZHINIAN_API_KEYS_PARAMETER"], WithDecryption=True)
KEYS = {key: client for client, key in (pair.split(":", 1) for pair in keys_text["Parameter"]["Value"].split(","))}


def answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def create(event):
    authorization = event.get("headers", {}).get("authorization", "")
    client = KEYS.get(authorization.removeprefix("Bearer "))
    if client is None:
        return answer(401, {"error": "Missing or wrong API key."})
    try:
        body = json.loads(event.get("body") or "")
    except ValueError:
        return answer(400, {"error": "The body is not JSON."})
    if body.get("capability") not in ("image.generate", "image.edit", "image.inpaint", "image.upscale", "video.generate"):
        return answer(400, {"error": "capability: unknown"})
    job_id = "job_" + uuid.uuid4().hex
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    job = {"id": job_id, "clientId": client, "status": "queued", "spec": body, "createdAt": now}
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}, "status": {"S": "queued"},
              "clientId": {"S": client}, "job": {"S": json.dumps(job)}},
        ConditionExpression="attribute_not_exists(pk)",
    )
    sqs.send_message(QueueUrl=QUEUE, MessageBody=json.dumps({"jobId": job_id, "clientId": client}))
    return answer(202, {"job": job, "reused": False})


while True:
    with urllib.request.urlopen(RUNTIME + "/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(response)
    result = json.dumps(create(event)).encode()
    urllib.request.urlopen(urllib.request.Request(RUNTIME + f"/invocation/{request_id}/response", data=result, method="POST")).close()
