"""SQLModel tables, the database engine, queries and secret encryption."""

from models.app_names import AppName
from models.audit import AuditEvent
from models.build_slots import BuildSlot
from models.deliveries import WebhookDelivery
from models.deployments import Deployment, DeploymentLog, DeploymentStatus, LogLevel, LogType, PreviewRoute
from models.installations import Installation
from models.log_caps import DeploymentLogCount
from models.notifications import NotificationChannel, NotificationSend
from models.preview_databases import PreviewDatabase
from models.projects import DeploymentConfig, Project, ProjectSecret
from models.redeliveries import RedeliveryRequest, ScanMark
from models.sandbox_reports import SandboxReport
from models.users import ApiToken, User
from models.web_sessions import LoginLink, WebSession
from models.worker_heartbeats import WorkerHeartbeat

__all__ = [
    "ApiToken",
    "AppName",
    "AuditEvent",
    "BuildSlot",
    "Deployment",
    "DeploymentConfig",
    "DeploymentLog",
    "DeploymentLogCount",
    "DeploymentStatus",
    "Installation",
    "LogLevel",
    "LogType",
    "LoginLink",
    "PreviewDatabase",
    "NotificationChannel",
    "NotificationSend",
    "PreviewRoute",
    "Project",
    "ProjectSecret",
    "RedeliveryRequest",
    "SandboxReport",
    "ScanMark",
    "User",
    "WebSession",
    "WebhookDelivery",
    "WorkerHeartbeat",
]
