"""The management API: a sub-app on /admin/, behind PROXY_ADMIN_KEY."""
