"""REST API under /api/v1."""

from fastapi import APIRouter

from pdzone.web.api import audit, auth, cleanroom, datasets, directory, jobs

router = APIRouter(prefix="/api/v1")
router.include_router(auth.router)
router.include_router(directory.router)
router.include_router(audit.router)
router.include_router(datasets.router)
router.include_router(cleanroom.router)
router.include_router(jobs.router)
