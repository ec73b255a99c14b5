# INTENTIONALLY INSECURE image for secai's scanner fixtures. Never build for real use.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates
COPY requirements.txt /srv/hooks/
RUN pip install --no-cache-dir -r /srv/hooks/requirements.txt
COPY app/ /srv/hooks/app/
WORKDIR /srv/hooks
RUN useradd --system --uid 10004 hooks
USER hooks
EXPOSE 5003
HEALTHCHECK --interval=1m CMD ["python", "-c", "import app.hooks"]
CMD ["python", "-m", "app.hooks"]
