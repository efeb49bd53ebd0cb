"""Side effects of PreviewWorkflow: database writes, git clone, build, platform (local)."""
