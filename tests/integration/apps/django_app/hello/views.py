import os
from pathlib import Path

from django.shortcuts import render

from hello.models import Greeting


def index(request):
    # A row per visit: the table exists only if the release command's migrate ran.
    Greeting.objects.create()
    message = (Path(__file__).resolve().parent.parent / "message.txt").read_text().strip()
    return render(
        request,
        "hello/index.html",
        {
            "sha": os.environ.get("COMMIT_SHA", ""),
            "greetings": Greeting.objects.count(),
            "message": message,
        },
    )
