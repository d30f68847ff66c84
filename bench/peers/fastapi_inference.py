"""The peer of genrelay-dev's seed 003 surface: what teams write today, a FastAPI service on
SQLite in WAL mode doing the same create and status. A create checks the bearer key, refuses
when the pending queue is over its limit (503), and inserts the task; a status reads it back.
Each worker thread keeps its own connection, as the sqlite3 module requires.

Run by the benchmark as `uvicorn fastapi_inference:app --workers 2` (a worker per core) with
BENCH_DB and BENCH_KEYS (`client:key,...`) set.
"""

import datetime
import os
import sqlite3
import threading
import uuid

from fastapi import FastAPI, Header, HTTPException, Query

DB = os.environ["BENCH_DB"]
KEYS = {key: client for client, key in (pair.split(":", 1) for pair in os.environ["BENCH_KEYS"].split(","))}
QUEUE_LIMIT = int(os.environ.get("BENCH_QUEUE_LIMIT", "50"))
INDEXES = {1, 2, 3}

app = FastAPI()
local = threading.local()


def connection():
    db = getattr(local, "db", None)
    if db is None:
        db = sqlite3.connect(DB, timeout=5, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, client TEXT NOT NULL, idx INTEGER NOT NULL,"
            " status TEXT NOT NULL, created_at TEXT NOT NULL, completed_at TEXT, inference_time REAL,"
            " error_message TEXT)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS tasks_pending ON tasks (client, status)")
        local.db = db
    return db


def caller(authorization):
    client = KEYS.get((authorization or "").removeprefix("Bearer "))
    if client is None:
        raise HTTPException(status_code=401, detail="Missing or wrong API key.")
    return client


@app.post("/api/inference")
def submit(index: int = Query(ge=1), authorization: str | None = Header(default=None)):
    client = caller(authorization)
    if index not in INDEXES:
        raise HTTPException(status_code=400, detail=f"index {index} is not configured")
    db = connection()
    (pending,) = db.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE client = ? AND status = 'pending' LIMIT ?)",
        (client, QUEUE_LIMIT + 1),
    ).fetchone()
    if pending > QUEUE_LIMIT:
        raise HTTPException(status_code=503, detail="队列已满")
    task_id = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    db.execute(
        "INSERT INTO tasks (task_id, client, idx, status, created_at) VALUES (?, ?, ?, 'pending', ?)",
        (task_id, client, index, now),
    )
    return {"task_id": task_id, "index": index, "message": "任务已创建，正在处理中"}


@app.get("/api/task/{task_id}/status")
def status(task_id: str, authorization: str | None = Header(default=None)):
    client = caller(authorization)
    row = (
        connection()
        .execute(
            "SELECT idx, status, created_at, completed_at, inference_time, error_message FROM tasks"
            " WHERE task_id = ? AND client = ?",
            (task_id, client),
        )
        .fetchone()
    )
    if row is None:
        raise HTTPException(status_code=404, detail=f"Task {task_id} not found")
    index, state, created_at, completed_at, inference_time, error_message = row
    return {
        "task_id": task_id,
        "index": index,
        "status": state,
        "created_at": created_at,
        "completed_at": completed_at,
        "inference_time": inference_time,
        "error_message": error_message,
    }
