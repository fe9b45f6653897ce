"""The console (server-rendered, zh-CN by default)."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home():
    return "<!doctype html><html lang='zh-CN'><title>pdzone</title><h1>公共数据专区平台</h1></html>"
