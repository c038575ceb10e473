{{/*
The notification service's own settings (values `notification:`), and the push
simulator's: added to those processes' environment by "bobaku.process".
*/}}

{{- define "bobaku.notificationSecret" -}}
{{- .Values.notification.existingSecret | default "bobaku-notification" -}}
{{- end }}

{{- define "bobaku.pushSimEnabled" -}}
{{- $sim := get .Values.services "push-sim" | default dict -}}
{{- if $sim.enabled }}true{{ end -}}
{{- end }}

{{- define "bobaku.serviceEnv" -}}
{{- $root := .root -}}
{{- $ns := $root.Release.Namespace -}}
{{- $n := $root.Values.notification -}}
{{- if eq .name "notification" }}
- name: SMTP_HOST
  value: {{ ternary (printf "mailpit.%s.svc" $ns) $n.smtp.host $n.mailpit.enabled | required "notification.smtp.host is required when notification.mailpit.enabled is false" | quote }}
- name: SMTP_PORT
  value: {{ ternary 1025 $n.smtp.port $n.mailpit.enabled | quote }}
{{- if include "bobaku.pushSimEnabled" $root }}
- name: FCM_URL
  value: {{ printf "http://push-sim.%s.svc:8080/fcm" $ns | quote }}
- name: APNS_URL
  value: {{ printf "http://push-sim.%s.svc:8080/apns" $ns | quote }}
{{- else }}
- name: FCM_URL
  value: {{ $n.fcmUrl | quote }}
- name: APNS_URL
  value: {{ $n.apnsUrl | quote }}
{{- end }}
- name: GATEWAY_PUBLIC_URL
  value: {{ $n.gatewayPublicUrl | default (printf "http://gateway.%s.svc:%v" $ns $root.Values.gateway.port) | quote }}
- name: NOTIFICATION_SIGNING_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "bobaku.notificationSecret" $root }}, key: NOTIFICATION_SIGNING_KEY}
{{- end }}
{{- if or (eq .name "notification") (eq .name "push-sim") }}
- name: PUSH_CREDENTIAL
  valueFrom:
    secretKeyRef: {name: {{ include "bobaku.notificationSecret" $root }}, key: PUSH_CREDENTIAL}
{{- end }}
{{- end }}
