from django.db import models


class Greeting(models.Model):
    when = models.DateTimeField(auto_now_add=True)
