"""The pytest plugin: markers that fail a test on memory over a limit, on leaks and on leaked
resources. ``plugin`` holds the hooks (inert until a marker is used), ``checks`` the markers."""
