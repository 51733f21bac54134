"""The reviewer desk: server-rendered pages, htmx fragments and the live WebSocket."""
