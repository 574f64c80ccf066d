# First version: a slim, non-root image running `tossd run`. The operations issue hardens it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tossd ./tossd
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/tossd tossd \
    && mkdir -p /var/lib/tossd /etc/tossd && chown tossd /var/lib/tossd
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV TOSSD_CONFIG=/etc/tossd/tossd.toml STATE_DIRECTORY=/var/lib/tossd
USER tossd
VOLUME ["/var/lib/tossd"]
ENTRYPOINT ["tossd"]
CMD ["run"]
