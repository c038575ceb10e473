{{/* Names and labels shared by every template. */}}

{{- define "bobaku.labels" -}}
app.kubernetes.io/part-of: bobaku
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "bobaku.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
{{- end }}

{{- define "bobaku.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end }}

{{- define "bobaku.platformImage" -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.platform (include "bobaku.tag" .) -}}
{{- end }}

{{- define "bobaku.operatorImage" -}}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.operator (include "bobaku.tag" .) -}}
{{- end }}

{{/* Prometheus scrape annotations for a pod template (monitoring.podAnnotations). */}}
{{- define "bobaku.scrapeAnnotations" -}}
{{- if .root.Values.monitoring.podAnnotations }}
annotations:
  prometheus.io/scrape: "true"
  prometheus.io/port: {{ .port | quote }}
  prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{- define "bobaku.operatorServiceAccount" -}}bobaku-operator{{- end }}

{{- define "bobaku.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://nats.%s.svc:4222" .Release.Namespace -}}
{{- else -}}
{{- required "nats.url is required when nats.enabled is false" .Values.nats.url -}}
{{- end -}}
{{- end }}

{{- define "bobaku.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://redis.%s.svc:6379/0" .Release.Namespace -}}
{{- else -}}
{{- required "redis.url is required when redis.enabled is false" .Values.redis.url -}}
{{- end -}}
{{- end }}

{{- define "bobaku.mongodbSecret" -}}
{{- .Values.mongodb.existingSecret | default "bobaku-mongodb" -}}
{{- end }}

{{/* The pod security every platform container runs with (the images' user is 10001). */}}
{{- define "bobaku.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "bobaku.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Environment every platform process reads (kernel Settings). */}}
{{- define "bobaku.commonEnv" -}}
- name: ENVIRONMENT
  value: {{ .Values.platform.environment | quote }}
- name: LOG_LEVEL
  value: {{ .Values.platform.logLevel | quote }}
- name: NATS_URL
  value: {{ include "bobaku.natsUrl" . | quote }}
- name: REDIS_URL
  value: {{ include "bobaku.redisUrl" . | quote }}
- name: MONGODB_DB_PREFIX
  value: {{ .Values.platform.dbPrefix | quote }}
{{- /* The routing table: the operator writes it; the gateway routes by it; the pooled
analytics leaves the detail of a franchise with a silo of its own to that silo. */}}
- name: ROUTING_BUCKET
  value: {{ .Values.operator.routingBucket | quote }}
- name: DEPLOYMENT_ID
  value: {{ .Values.platform.deploymentId | quote }}
- name: MONGODB_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "bobaku.mongodbSecret" . }}
      key: MONGODB_URL
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .otlpEndpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .sampleRatio | quote }}
{{- end }}
{{- end }}
{{- /* Where the other processes are: one *_URL per service entry, and the hub. */}}
{{- $ns := .Release.Namespace }}
{{- range $name, $svc := .Values.services }}
{{- if and $svc.enabled $svc.upstream }}
- name: {{ $svc.upstream }}
  value: {{ printf "http://%s.%s.svc:8080" $name $ns | quote }}
{{- end }}
{{- end }}
{{- if .Values.hub.enabled }}
- name: HUB_URL
  value: {{ printf "http://hub.%s.svc:%v" $ns .Values.hub.port | quote }}
{{- end }}
{{- $payment := get .Values.services "payment" | default dict }}
{{- if $payment.enabled }}
- name: PAYMENT_WEBHOOK_BASE_URL
  value: {{ printf "http://payment.%s.svc:8080" $ns | quote }}
{{- end }}
{{- with .Values.auth.serviceTokenSecret }}
- name: SERVICE_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: SERVICE_TOKEN}
{{- end }}
{{- end }}

{{/*
A platform process (gateway, hub, shared service): Deployment, Service and, with two
replicas or more, a PodDisruptionBudget. Call with (dict "root" $ "name" ... "command"
... "replicas" ... "port" ... "resources" ... "serviceType" ... "env" (a service entry's
own variables, optional) ... "extra" (the component's values, for
nodeSelector/tolerations/affinity)).
*/}}
{{- define "bobaku.process" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "bobaku.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
    app.kubernetes.io/component: {{ .component | default "service" }}
spec:
  replicas: {{ .replicas }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "bobaku.selector" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  template:
    metadata:
      labels:
        {{- include "bobaku.labels" $root | nindent 8 }}
        app.kubernetes.io/name: {{ .name }}
        app.kubernetes.io/component: {{ .component | default "service" }}
      {{- include "bobaku.scrapeAnnotations" (dict "root" $root "port" .port) | nindent 6 }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 30
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "bobaku.podSecurity" $root | nindent 8 }}
      containers:
        - name: {{ .name }}
          image: {{ include "bobaku.platformImage" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: {{ toJson .command }}
          ports:
            - {name: http, containerPort: {{ .port }}, protocol: TCP}
          env:
            - name: SERVICE_NAME
              value: {{ .name | quote }}
            - name: HTTP_HOST
              value: "0.0.0.0"
            - name: HTTP_PORT
              value: {{ .port | quote }}
            {{- include "bobaku.commonEnv" $root | nindent 12 }}
            {{- include "bobaku.serviceEnv" (dict "root" $root "name" .name) | nindent 12 }}
            {{- range $key, $value := .env }}
            - name: {{ $key }}
              value: {{ $value | quote }}
            {{- end }}
            {{- with $root.Values.auth.jwtSecret }}
            - name: JWT_PUBLIC_KEY_FILE
              value: /etc/bobaku/jwt/public.pem
            - name: JWT_KEY_ID
              value: {{ $root.Values.auth.keyId | quote }}
            - name: JWT_ISSUER
              value: {{ $root.Values.auth.issuer | quote }}
            - name: JWT_AUDIENCE
              value: {{ $root.Values.auth.audience | quote }}
            {{- if eq $.name "customer" }}
            - name: JWT_PRIVATE_KEY_FILE
              value: /etc/bobaku/jwt/private.pem
            {{- end }}
            {{- end }}
            {{- /* Callback HMAC keys: outside ENVIRONMENT dev/test the documented defaults refuse the start. */}}
            {{- if and $root.Values.auth.providerSecret (has $.name (list "payment" "provider-sim")) }}
            {{- range $provider := list "GOPAY" "OVO" "DANA" "SHOPEEPAY" "QRIS" "CARD" }}
            - name: PROVIDER_SECRET_{{ $provider }}
              valueFrom:
                secretKeyRef: {name: {{ $root.Values.auth.providerSecret }}, key: PROVIDER_SECRET_{{ $provider }}}
            {{- end }}
            {{- end }}
          resources:
            {{- toYaml .resources | nindent 12 }}
          startupProbe:
            # Up to 3 min to start (many pods starting at once on a small node; see the
            # operator's silo plan); liveness begins once started.
            httpGet: {path: /healthz, port: http}
            periodSeconds: 2
            failureThreshold: 90
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 5
          securityContext:
            {{- include "bobaku.containerSecurity" $root | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            {{- if $root.Values.auth.jwtSecret }}
            - {name: jwt, mountPath: /etc/bobaku/jwt, readOnly: true}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
        {{- with $root.Values.auth.jwtSecret }}
        - name: jwt
          secret:
            secretName: {{ . }}
            items:
              - {key: public.pem, path: public.pem}
              {{- if eq $.name "customer" }}
              - {key: private.pem, path: private.pem}
              {{- end }}
        {{- end }}
      {{- with .extra.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .extra.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .extra.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "bobaku.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
spec:
  type: {{ .serviceType | default "ClusterIP" }}
  selector:
    {{- include "bobaku.selector" . | nindent 4 }}
  ports:
    - {name: http, port: {{ .port }}, targetPort: http, protocol: TCP}
{{- if ge (int .replicas) 2 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "bobaku.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ .name }}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      {{- include "bobaku.selector" . | nindent 6 }}
{{- end }}
{{- end }}
