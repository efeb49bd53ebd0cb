"""The Fly.io platform: previews on Fly Machines through the Machines API."""
