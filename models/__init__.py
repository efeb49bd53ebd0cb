"""SQLModel tables, the database engine, queries and secret encryption."""

from models.deliveries import WebhookDelivery
from models.deployments import Deployment, DeploymentLog, DeploymentStatus, LogLevel, LogType, PreviewRoute
from models.installations import Installation
from models.projects import DeploymentConfig, Project, ProjectSecret
from models.users import ApiToken, User

__all__ = [
    "ApiToken",
    "Deployment",
    "DeploymentConfig",
    "DeploymentLog",
    "DeploymentStatus",
    "Installation",
    "LogLevel",
    "LogType",
    "PreviewRoute",
    "Project",
    "ProjectSecret",
    "User",
    "WebhookDelivery",
]
