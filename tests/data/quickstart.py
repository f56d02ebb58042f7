"""The "Full code" of Fragment's quickstart (docs.checkfragment.com), copied verbatim except
that the base URL comes from FRAGMENT_BASE_URL. tests/test_quickstart.py runs it against the
sandbox to prove the docs' own client works unchanged."""
import requests
import os

token = os.getenv("FRAGMENT_TOKEN")
# The only change from the docs: the base URL can point at the sandbox.
BASE_URL = os.getenv("FRAGMENT_BASE_URL", "https://api.onfragment.com/api/v1")

# Verify authentication
resp = requests.get(
    f"{BASE_URL}/accounts/me",
    headers={
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "quickstart/1.0",
    }
)
resp.raise_for_status()
print("Authentication successful")

# Create a task
response = requests.post(
    f"{BASE_URL}/tasks",
    json={
        "fields": {
            "title": "My first task",
            "url": "https://google.com",
            "country": "FR",
        }
    },
    headers={
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "quickstart/1.0",
    }
)
response.raise_for_status()
task = response.json()
uid = task["uid"]
print(f"Task created with uid: {uid}")

# Get the task by its `uid`
response = requests.get(
    f"{BASE_URL}/tasks/{uid}",
    headers={
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "quickstart/1.0",
    }
)
response.raise_for_status()
task = response.json()
print(f"Task retrieved with uid: {uid}")
print(task)

# Search tasks by `country`
response = requests.get(
    f"{BASE_URL}/tasks",
    params={"country": "FR"},
    headers={
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "quickstart/1.0",
    }
)
response.raise_for_status()
data = response.json()
tasks = data["items"]
print(f"Tasks found: {len(tasks)}")
print(tasks)

# Update the task status
response = requests.patch(
    f"{BASE_URL}/tasks/{uid}",
    json={"status": "DONE"},
    headers={
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "quickstart/1.0",
    }
)
response.raise_for_status()
task = response.json()
print(f"Task updated with status: {task['status']}")

# Add a comment to the task
response = requests.post(
    f"{BASE_URL}/tasks/{uid}/comments",
    json={"text": "This is a comment"},
    headers={
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "quickstart/1.0",
    }
)
response.raise_for_status()
comment = response.json()
print(f"Comment added with uid: {comment['uid']}")
print(comment)
