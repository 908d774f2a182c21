{{/*
Only template functions that Helm 3.0 has (sprig v3.0.2 and Helm 3.0's
own): ACK's managed Helm is that old. test/e2e checks every function used
against that list and renders the chart with Helm 3.0.3.
*/}}

{{- define "hookrunner.fullname" -}}
{{- printf "%s-hookrunner" .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "hookrunner.labels" -}}
app.kubernetes.io/name: hookrunner
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end -}}

{{- define "hookrunner.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The target's release name and namespace, Compute Nest keys first. */}}
{{- define "hookrunner.targetRelease" -}}
{{- .Values.ReleaseName | default .Values.target.releaseName | default .Release.Name -}}
{{- end -}}
{{- define "hookrunner.targetNamespace" -}}
{{- .Values.ChartNamespace | default .Values.target.namespace | default .Release.Namespace -}}
{{- end -}}
{{- define "hookrunner.targetChart" -}}
{{- if include "hookrunner.chartContent" . -}}
{{- print "/etc/hookrunner/config/chart.tgz" -}}
{{- else -}}
{{- .Values.ChartUrl | default .Values.target.chart -}}
{{- end -}}
{{- end -}}

{{/*
The target chart carried in this release, base64 of its .tgz: target.chartContent,
or the file target.chartFile of this chart. Empty when the chart comes from elsewhere.
*/}}
{{- define "hookrunner.chartContent" -}}
{{- if .Values.target.chartContent -}}
{{- .Values.target.chartContent | replace "\n" "" | replace " " "" -}}
{{- else if .Values.target.chartFile -}}
{{- $data := .Files.Get .Values.target.chartFile -}}
{{- if not $data -}}
{{- fail (printf "target.chartFile %s: no such file in the chart (put the .tgz under files/ and name it from the chart root)" .Values.target.chartFile) -}}
{{- end -}}
{{- $data | b64enc -}}
{{- end -}}
{{- end -}}

{{/* The target's values: target.values with ChartValues (a YAML or JSON string, or a map) over them. */}}
{{- define "hookrunner.targetValues" -}}
{{- $values := deepCopy (default dict .Values.target.values) -}}
{{- $extra := .Values.ChartValues -}}
{{- if kindIs "string" $extra -}}
{{- if $extra -}}
{{- $extra = fromYaml $extra -}}
{{- if hasKey $extra "Error" -}}
{{- fail (printf "ChartValues is neither YAML nor JSON: %s" (get $extra "Error")) -}}
{{- end -}}
{{- else -}}
{{- $extra = dict -}}
{{- end -}}
{{- end -}}
{{- toYaml (mergeOverwrite $values (default dict $extra)) -}}
{{- end -}}

{{/* The release plan of releases: the list and the outputs. */}}
{{- define "hookrunner.plan" -}}
{{- $plan := dict "releases" .Values.releases -}}
{{- if .Values.outputs }}{{ $_ := set $plan "outputs" .Values.outputs }}{{ end -}}
{{- toYaml $plan -}}
{{- end -}}

{{- define "hookrunner.kubeconfig" -}}
{{- .Values.Kubeconfig | default .Values.kubeconfig.value -}}
{{- end -}}

{{/* In-cluster mode: no kubeconfig of any kind. */}}
{{- define "hookrunner.inCluster" -}}
{{- if and (not (include "hookrunner.kubeconfig" .)) (not .Values.kubeconfig.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "hookrunner.callbackCurl" -}}
{{- .Values.CurlCli | default .Values.callback.curl -}}
{{- end -}}

{{/* seconds of a Go duration of one unit: 90s, 10m, 1h. */}}
{{- define "hookrunner.seconds" -}}
{{- $d := toString . -}}
{{- if not (regexMatch "^[0-9]+[smh]$" $d) -}}
{{- fail (printf "%q is not a duration such as 90s, 10m or 1h" $d) -}}
{{- end -}}
{{- $n := int64 (trimSuffix "h" (trimSuffix "m" (trimSuffix "s" $d))) -}}
{{- if hasSuffix "h" $d -}}{{ mul $n 3600 }}{{- else if hasSuffix "m" $d -}}{{ mul $n 60 }}{{- else -}}{{ $n }}{{- end -}}
{{- end -}}

{{/*
The Job deadline: the run's timeout plus 120 s for the callback (a 60 s
budget) and slack, so hookrunner always times out, and reports, first.
*/}}
{{- define "hookrunner.deadline" -}}
{{- $timeout := int64 (include "hookrunner.seconds" .timeout) -}}
{{- $deadline := int64 (default 0 .root.Values.job.activeDeadlineSeconds) -}}
{{- if eq $deadline 0 -}}
{{- add $timeout 120 -}}
{{- else if lt $deadline (add $timeout 60) -}}
{{- fail (printf "job.activeDeadlineSeconds (%d) must exceed the %s timeout (%ds) by at least 60 s so hookrunner can report before the Job is killed" $deadline .what $timeout) -}}
{{- else -}}
{{- $deadline -}}
{{- end -}}
{{- end -}}

{{/* Refuse values that cannot work, with a message saying what to do. */}}
{{- define "hookrunner.validate" -}}
{{- if .Values.OutputCmd -}}
{{- fail "OutputCmd is not supported: hookrunner runs no shell. Render outputs with Go templates in `outputs` (name: template; lookup, jsonpath and sprig are available)" -}}
{{- end -}}
{{- if .Values.InstallSeconds -}}
{{- fail "InstallSeconds is not supported: hookrunner does not sleep. Wait on real readiness with `waitFor` conditions and `install.timeout`" -}}
{{- end -}}
{{- if and (include "hookrunner.kubeconfig" .) .Values.kubeconfig.existingSecret -}}
{{- fail "give kubeconfig.value (or Kubeconfig) or kubeconfig.existingSecret, not both" -}}
{{- end -}}
{{- $sources := 0 -}}
{{- range list (.Values.ChartUrl | default .Values.target.chart) .Values.target.chartContent .Values.target.chartFile -}}
{{- if . }}{{ $sources = add1 $sources }}{{ end -}}
{{- end -}}
{{- if gt $sources 1 -}}
{{- fail "give one of target.chart (or ChartUrl), target.chartContent and target.chartFile" -}}
{{- end -}}
{{- if and .Values.releases (or (gt $sources 0) .Values.ChartValues .Values.ReleaseName .Values.target.values .Values.target.secretValues .Values.waitFor) -}}
{{- fail "releases is a plan of several charts: leave target.chart, target.chartContent, target.chartFile, target.values, target.secretValues, waitFor and the Compute Nest keys (ChartUrl, ChartValues, ReleaseName) empty, and give each release its chart, values and waitFor" -}}
{{- end -}}
{{- if gt (len (include "hookrunner.chartContent" .)) 349528 -}}
{{- fail "the target chart carried in this release is over 256 KiB (.tgz): Secrets and Helm release records hold at most 1 MiB; serve it from a registry (target.chart) instead" -}}
{{- end -}}
{{- $t := .Values.target -}}
{{- if and $t.keyring.value $t.keyring.existingSecret -}}
{{- fail "give target.keyring.value or target.keyring.existingSecret, not both" -}}
{{- end -}}
{{- if and $t.verify (not (or $t.keyring.value $t.keyring.existingSecret)) -}}
{{- fail "target.verify needs a public keyring: target.keyring.value (base64) or target.keyring.existingSecret" -}}
{{- end -}}
{{- if and $t.cosignKey.value $t.cosignKey.existingSecret -}}
{{- fail "give target.cosignKey.value or target.cosignKey.existingSecret, not both" -}}
{{- end -}}
{{- if and (include "hookrunner.callbackCurl" .) .Values.callback.url -}}
{{- fail "give callback.url or callback.curl (CurlCli), not both" -}}
{{- end -}}
{{- end -}}

{{/* The pod spec shared by the install and uninstall Jobs. .command is install or uninstall. */}}
{{- define "hookrunner.podSpec" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $full := include "hookrunner.fullname" $root -}}
{{- $inCluster := include "hookrunner.inCluster" $root -}}
restartPolicy: Never
{{- if $inCluster }}
serviceAccountName: {{ $full }}
{{- else }}
automountServiceAccountToken: false
{{- end }}
{{- with $v.image.pullSecrets }}
imagePullSecrets:
{{ toYaml . | indent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- with $v.job.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with $v.job.tolerations }}
tolerations:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with $v.job.affinity }}
affinity:
{{ toYaml . | indent 2 }}
{{- end }}
containers:
  - name: hookrunner
    image: {{ include "hookrunner.image" $root | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      - {{ .command }}
      {{- range $i, $h := keys $v.callback.headers | sortAlpha }}
      - --callback-header=$(HOOKRUNNER_CALLBACK_HEADER_{{ $i }})
      {{- end }}
      {{- if eq .command "install" }}
      {{- range $v.imageRegistryRewrite }}
      - {{ printf "--image-registry-rewrite=%s" . | quote }}
      {{- end }}
      {{- range $v.target.imagePullSecrets }}
      - {{ printf "--image-pull-secret=%s" . | quote }}
      {{- end }}
      {{- if $v.target.imagePullSecretsToServiceAccounts }}
      - --image-pull-secret-service-accounts
      {{- end }}
      {{- range $k := keys $v.target.labels | sortAlpha }}
      - {{ printf "--add-label=%s=%s" $k (get $v.target.labels $k) | quote }}
      {{- end }}
      {{- range $k := keys $v.target.annotations | sortAlpha }}
      - {{ printf "--add-annotation=%s=%s" $k (get $v.target.annotations $k) | quote }}
      {{- end }}
      {{- range $v.install.driftIgnore }}
      - {{ printf "--drift-ignore=%s" . | quote }}
      {{- end }}
      {{- range $v.install.extraArgs }}
      - {{ . | quote }}
      {{- end }}
      {{- end }}
    env:
      - {name: HOOKRUNNER_RELEASE, value: {{ include "hookrunner.targetRelease" $root | quote }}}
      - {name: HOOKRUNNER_NAMESPACE, value: {{ include "hookrunner.targetNamespace" $root | quote }}}
      - {name: HOOKRUNNER_LOG_FORMAT, value: json}
      - {name: HOOKRUNNER_CACHE_DIR, value: /tmp/hookrunner}
      - {name: HOME, value: /tmp}
      - {name: HELM_CACHE_HOME, value: /tmp/helm/cache}
      - {name: HELM_CONFIG_HOME, value: /tmp/helm/config}
      - {name: HELM_DATA_HOME, value: /tmp/helm/data}
      - {name: HOOKRUNNER_CALLBACK_BUDGET, value: 60s}
      # For an Event about this pod with the run's outcome (in-cluster mode).
      - name: POD_NAME
        valueFrom: {fieldRef: {fieldPath: metadata.name}}
      - name: POD_NAMESPACE
        valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
      {{- if $v.releases }}
      - {name: HOOKRUNNER_PLAN, value: /etc/hookrunner/config/plan.yaml}
      {{- end }}
      {{- if eq .command "install" }}
      - {name: HOOKRUNNER_CREATE_NAMESPACE, value: {{ $v.target.createNamespace | quote }}}
      {{- if not $v.releases }}
      - {name: HOOKRUNNER_CHART, value: {{ include "hookrunner.targetChart" $root | quote }}}
      {{- with $v.target.version }}
      - {name: HOOKRUNNER_CHART_VERSION, value: {{ . | quote }}}
      {{- end }}
      {{- with $v.target.repo }}
      - {name: HOOKRUNNER_REPO, value: {{ . | quote }}}
      {{- end }}
      {{- with $v.target.digest }}
      - {name: HOOKRUNNER_CHART_DIGEST, value: {{ . | quote }}}
      {{- end }}
      - {name: HOOKRUNNER_VALUES, value: /etc/hookrunner/config/values.yaml}
      {{- if $v.target.secretValues }}
      - {name: HOOKRUNNER_SECRET_VALUES, value: /etc/hookrunner/config/secret-values.yaml}
      {{- end }}
      {{- if $v.waitFor }}
      - {name: HOOKRUNNER_WAIT_FOR_FILE, value: /etc/hookrunner/config/wait-for.yaml}
      {{- end }}
      {{- if $v.outputs }}
      - {name: HOOKRUNNER_OUTPUTS_FILE, value: /etc/hookrunner/config/outputs.yaml}
      {{- end }}
      {{- end }}{{/* not releases: the plan holds each release's chart, values and waits, and the outputs */}}
      {{- if $v.postRenderPatches }}
      - {name: HOOKRUNNER_POST_RENDER_PATCH, value: /etc/hookrunner/config/post-render-patches.yaml}
      {{- end }}
      {{- if $v.target.verify }}
      - {name: HOOKRUNNER_VERIFY, value: "true"}
      {{- end }}
      {{- if $v.target.keyring.value }}
      - {name: HOOKRUNNER_KEYRING, value: /etc/hookrunner/config/keyring.gpg}
      {{- else if $v.target.keyring.existingSecret }}
      - {name: HOOKRUNNER_KEYRING, value: /etc/hookrunner/keyring/keyring.gpg}
      {{- end }}
      {{- if $v.target.cosignKey.value }}
      - {name: HOOKRUNNER_COSIGN_KEY, value: /etc/hookrunner/config/cosign.pub}
      {{- else if $v.target.cosignKey.existingSecret }}
      - {name: HOOKRUNNER_COSIGN_KEY, value: /etc/hookrunner/cosign/cosign.pub}
      {{- end }}
      - {name: HOOKRUNNER_TIMEOUT, value: {{ $v.install.timeout | quote }}}
      - {name: HOOKRUNNER_WAIT, value: {{ $v.install.wait | quote }}}
      - {name: HOOKRUNNER_SERVER_SIDE, value: {{ $v.install.serverSide | quote }}}
      - {name: HOOKRUNNER_CRDS, value: {{ $v.install.crds | default "create" | quote }}}
      - {name: HOOKRUNNER_DRIFT, value: {{ $v.install.drift | default "detect" | quote }}}
      {{- if or $v.registry.dockerConfigJson $v.registry.existingSecret }}
      - {name: HOOKRUNNER_REGISTRY_CONFIG, value: /etc/hookrunner/registry/config.json}
      {{- end }}
      {{- $auth := default $full $v.target.auth.existingSecret }}
      {{- if or $v.target.auth.existingSecret $v.target.auth.username }}
      - name: HOOKRUNNER_USERNAME
        valueFrom: {secretKeyRef: {name: {{ $auth }}, key: username}}
      - name: HOOKRUNNER_PASSWORD
        valueFrom: {secretKeyRef: {name: {{ $auth }}, key: password}}
      {{- end }}
      {{- else }}
      - {name: HOOKRUNNER_TIMEOUT, value: {{ $v.uninstall.timeout | quote }}}
      - {name: HOOKRUNNER_ON_ERROR, value: {{ $v.uninstall.onError | quote }}}
      {{- end }}
      {{- if not $inCluster }}
      - {name: KUBECONFIG, value: /etc/hookrunner/kubeconfig/kubeconfig}
      {{- end }}
      {{- with $v.kubeconfig.context }}
      - {name: HOOKRUNNER_KUBE_CONTEXT, value: {{ . | quote }}}
      {{- end }}
      {{- $cb := default $full $v.callback.existingSecret }}
      {{- if or $v.callback.url $v.callback.existingSecret (include "hookrunner.callbackCurl" $root) }}
      - {name: HOOKRUNNER_CALLBACK_FORMAT, value: {{ $v.callback.format | quote }}}
      {{- with $v.callback.id }}
      - {name: HOOKRUNNER_CALLBACK_ID, value: {{ . | quote }}}
      {{- end }}
      {{- if or $v.callback.url $v.callback.existingSecret }}
      - name: HOOKRUNNER_CALLBACK_URL
        valueFrom: {secretKeyRef: {name: {{ $cb }}, key: callback-url, optional: true}}
      {{- end }}
      {{- if or (include "hookrunner.callbackCurl" $root) $v.callback.existingSecret }}
      - name: HOOKRUNNER_CALLBACK_CURL
        valueFrom: {secretKeyRef: {name: {{ $cb }}, key: callback-curl, optional: true}}
      {{- end }}
      {{- if or $v.callback.secret $v.callback.existingSecret }}
      - name: HOOKRUNNER_CALLBACK_SECRET
        valueFrom: {secretKeyRef: {name: {{ $cb }}, key: callback-secret, optional: true}}
      {{- end }}
      {{- range $i, $h := keys $v.callback.headers | sortAlpha }}
      - name: HOOKRUNNER_CALLBACK_HEADER_{{ $i }}
        valueFrom: {secretKeyRef: {name: {{ $full }}, key: {{ printf "callback-header-%d" $i }}}}
      {{- end }}
      {{- end }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsNonRoot: true
      capabilities:
        drop: [ALL]
    {{- with $v.job.resources }}
    resources:
{{ toYaml . | indent 6 }}
    {{- end }}
    volumeMounts:
      - {name: config, mountPath: /etc/hookrunner/config, readOnly: true}
      - {name: tmp, mountPath: /tmp}
      {{- if not $inCluster }}
      - {name: kubeconfig, mountPath: /etc/hookrunner/kubeconfig, readOnly: true}
      {{- end }}
      {{- if or $v.registry.dockerConfigJson $v.registry.existingSecret }}
      - {name: registry, mountPath: /etc/hookrunner/registry, readOnly: true}
      {{- end }}
      {{- if and (eq .command "install") $v.target.keyring.existingSecret }}
      - {name: keyring, mountPath: /etc/hookrunner/keyring, readOnly: true}
      {{- end }}
      {{- if and (eq .command "install") $v.target.cosignKey.existingSecret }}
      - {name: cosign, mountPath: /etc/hookrunner/cosign, readOnly: true}
      {{- end }}
volumes:
  - name: config
    secret: {secretName: {{ $full }}, defaultMode: 0440}
  - name: tmp
    emptyDir: {}
  {{- if not $inCluster }}
  - name: kubeconfig
    secret:
      secretName: {{ default $full $v.kubeconfig.existingSecret }}
      defaultMode: 0440
      items: [{key: kubeconfig, path: kubeconfig}]
  {{- end }}
  {{- if or $v.registry.dockerConfigJson $v.registry.existingSecret }}
  - name: registry
    secret:
      secretName: {{ default $full $v.registry.existingSecret }}
      defaultMode: 0440
      items: [{key: .dockerconfigjson, path: config.json}]
  {{- end }}
  {{- if and (eq .command "install") $v.target.keyring.existingSecret }}
  - name: keyring
    secret:
      secretName: {{ $v.target.keyring.existingSecret }}
      defaultMode: 0440
      items: [{key: {{ $v.target.keyring.key | quote }}, path: keyring.gpg}]
  {{- end }}
  {{- if and (eq .command "install") $v.target.cosignKey.existingSecret }}
  - name: cosign
    secret:
      secretName: {{ $v.target.cosignKey.existingSecret }}
      defaultMode: 0440
      items: [{key: {{ $v.target.cosignKey.key | quote }}, path: cosign.pub}]
  {{- end }}
{{- end -}}

{{/* The Job spec around a pod spec. */}}
{{- define "hookrunner.job" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ printf "%s-%s" (include "hookrunner.fullname" $root) .command }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
{{ include "hookrunner.labels" $root | indent 4 }}
    app.kubernetes.io/component: {{ .command }}
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: "0"
    # A leftover Job never blocks a re-install or an upgrade; a succeeded
    # one goes at once, a failed one stays for debugging until the next run.
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ .backoffLimit }}
  activeDeadlineSeconds: {{ .deadline }}
  {{- if semverCompare ">=1.26.0-0" $root.Capabilities.KubeVersion.Version }}
  # Bad input, a failed install or a timeout will fail again: stop at once.
  # A crash, an eviction or a signal is retried.
  podFailurePolicy:
    rules:
      - action: FailJob
        onExitCodes: {containerName: hookrunner, operator: In, values: [2, 3, 4, 5, 6, 7]}
      - action: Ignore
        onPodConditions: [{type: DisruptionTarget}]
  {{- end }}
  {{- if semverCompare ">=1.29.0-0" $root.Capabilities.KubeVersion.Version }}
  # Never two runners at once: a replacement starts when the old pod is gone.
  podReplacementPolicy: Failed
  {{- end }}
  template:
    metadata:
      labels:
{{ include "hookrunner.labels" $root | indent 8 }}
        app.kubernetes.io/component: {{ .command }}
        {{- with $v.job.podLabels }}
{{ toYaml . | indent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- with $v.job.podAnnotations }}
{{ toYaml . | indent 8 }}
        {{- end }}
    spec:
{{ include "hookrunner.podSpec" . | indent 6 }}
{{- end -}}
