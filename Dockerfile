# One image for every Chime process: `npm start` (embedded), `npm run broker`, `npm run api`.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
COPY bin/postinstall.ts ./bin/postinstall.ts
RUN npm ci --no-audit --no-fund
COPY . .
# The web app is built from the sources copied above (postinstall ran before they were there).
RUN npm run build:web
ENV CHIME_DATA_DIR=/data
EXPOSE 8080 1883
CMD ["npm", "start"]
