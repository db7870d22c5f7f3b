# The API image: Python deps from requirements.lock, CesiumJS vendored from npm, the EGM96 grid from proj-data.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# the viewer's UI kit (Vue 3 + Element Plus), bundled by Vite as `make ui` does
COPY viewer/ui viewer/ui
RUN npx --no-install vite build --config viewer/ui/vite.config.mjs --logLevel warn

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends proj-data libexpat1 nginx && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
COPY --from=frontend /src/node_modules/cesium/Build /app/node_modules/cesium/Build
COPY --from=frontend /src/viewer/ui/dist /app/viewer/ui/dist
ENV CIM_DATA_DIR=/data
EXPOSE 8000
CMD ["cim", "serve", "--host", "0.0.0.0", "--port", "8000"]
