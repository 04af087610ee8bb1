"""Request headers (get_header, get_headers, for_each_header), the URL, the method and
route parameters; response headers with write_header."""

from __future__ import annotations

from socketify import App


def home(res, req):
    auth = req.get_header("authorization")
    headers = req.get_headers()
    print("All headers", headers)
    res.end(f"authorization: {auth}")


def custom_header(res, req):
    res.write_header("Content-Type", "application/octet-stream")
    res.write_header("Content-Disposition", 'attachment; filename="message.txt"')
    res.end("Downloaded this ;)")


def list_headers(res, req):
    lines = []
    req.for_each_header(lambda key, value: lines.append(f"Header {key}: {value}"))
    res.end("\n".join(lines))


def url(res, req):
    res.end(f"{req.get_method()} {req.get_url()} {req.get_full_url()}")


def user(res, req):
    if int(req.get_parameter(0)) == 1:
        return res.end("Hello user with id 1!")
    params = req.get_parameters()
    res.end(f"All params {params}")


def run(app: App) -> None:
    app.get("/headers", home)
    app.get("/headers/download", custom_header)
    app.get("/headers/list", list_headers)
    app.get("/url", url)
    app.get("/user/:id", user)


if __name__ == "__main__":
    from _serve import serve

    serve(run)
