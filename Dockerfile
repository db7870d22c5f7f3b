# The API image: Python deps from requirements.lock, CesiumJS vendored from npm, the EGM96 grid from proj-data.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends proj-data libexpat1 nginx && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
COPY --from=frontend /src/node_modules/cesium/Build /app/node_modules/cesium/Build
ENV CIM_DATA_DIR=/data
EXPOSE 8000
CMD ["cim", "serve", "--host", "0.0.0.0", "--port", "8000"]
