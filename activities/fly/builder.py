"""The build on Fly.io: the preview's image, built from the Dockerfile and pushed to the PR's app's
repository on registry.fly.io, or a prebuilt image named in fly_config (nothing to build)."""

from __future__ import annotations

from pathlib import Path

from temporalio.exceptions import ApplicationError

from activities.builders import Step
from activities.environment import PullRequestText
from activities.fly.image import UnsafeDockerfile, build_command, builder_env, dockerfile_in, prepare_home
from activities.fly.platform import FlyPlatformActivities
from activities.logsink import LogSink
from activities.toolchain_reuse import Reuse
from config import Settings
from models import DeploymentConfig
from workflows.activity_io import DeploymentRef, ErrorType

# The builder's own directory, beside the checkout in the deployment's work dir (which is previewd's).
BUILDER_DIR = "builder"


class FlyImageBuilder:
    def __init__(self, settings: Settings, platform: FlyPlatformActivities) -> None:
        self.settings = settings
        self.platform = platform

    def masked(self) -> list[str]:
        return [self.settings.fly_api_token.get_secret_value()] if self.settings.fly_api_token else []

    async def plan(
        self,
        ref: DeploymentRef,
        config: DeploymentConfig,
        *,
        secrets: dict[str, str],
        source: Path,
        sink: LogSink,
        pr: PullRequestText | None = None,
        reuse: Reuse | None = None,
    ) -> list[Step]:
        # `reuse` is the local platform's: an image build starts from Fly's own layer cache.
        if config.fly_config.image:
            sink.info(f"Using the prebuilt image {config.fly_config.image}")
            return []
        try:
            dockerfile = dockerfile_in(source, config.dockerfile_path)
        except UnsafeDockerfile as error:
            sink.error(str(error))
            raise ApplicationError(str(error), type=ErrorType.BAD_CONFIG, non_retryable=True) from None
        # The registry repository belongs to the PR's app, which must exist before the push.
        await self.platform.prepare_image(ref, sink)
        home = prepare_home(source.parent / BUILDER_DIR, self.settings, ref)
        # The builder gets the operator's registry token, never the project's secrets: the image
        # gets those at run time, as Fly secrets.
        argv = build_command(self.settings, config, ref, source=source, dockerfile=dockerfile, home=home)
        return [Step("image", argv, builder_env(self.settings, home), cwd=home.root)]
