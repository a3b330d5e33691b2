"""Developer tools: commands that produce the project's generated docs pages."""
