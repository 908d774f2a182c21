package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/klauspost/compress/gzip"
	"helm.sh/helm/v4/pkg/action"
	ri "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kblabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// maxReleaseRecord is the most a release Secret's data may hold.
const maxReleaseRecord = 1 << 20

// errReleaseTooLarge is a release whose record cannot be stored: bad input
// (values or chart too large), refused before anything is created.
var errReleaseTooLarge = errors.New("release too large")

// releaseStore is Helm's Secrets driver with a cheaper write and read. Helm encodes
// a release (JSON, gzip at its best compression, base64) on every write,
// and writes a release again after each hook resource: for a chart with
// large CRDs (argo-cd: a record of several hundred KiB) most of an
// install's CPU went to gzip. Here each write encodes once, with a faster
// gzip (klauspost/compress, standard format: helm 3 and 4 read it
// unchanged), and falls back to the best compression only when the fast
// record would not fit in a Secret. A record that does not fit even then
// is refused, with its size, before anything is created. Get and Query
// decode with the same gzip into a buffer sized once; List and Delete are
// Helm's own. The writes Helm makes between hook resources go out in the
// background (see writeBehind); every other call waits for them first.
type releaseStore struct {
	*driver.Secrets
	impl   corev1client.SecretInterface
	behind *writeBehind
}

// newReleaseStore stores releases in impl, logging to log what Helm would
// log of a write it makes in the background (nil: slog's default).
func newReleaseStore(impl corev1client.SecretInterface, log *slog.Logger) releaseStore {
	if log == nil {
		log = slog.Default()
	}
	s := releaseStore{Secrets: driver.NewSecrets(impl), impl: impl, behind: newWriteBehind(log)}
	s.behind.send = s.update // s.update of the store that holds behind
	return s
}

// Flush waits until every write queued in the background has been sent.
func (s releaseStore) Flush() { s.behind.flush() }

// flushReleases waits for the background writes of cfg's release store.
func flushReleases(cfg *action.Configuration) {
	if cfg == nil || cfg.Releases == nil {
		return
	}
	if s, ok := cfg.Releases.Driver.(releaseStore); ok {
		s.Flush()
	}
}

// Get reads one revision as Helm's driver does, decoding it faster.
func (s releaseStore) Get(key string) (ri.Releaser, error) {
	s.behind.flush()
	obj, err := s.impl.Get(context.Background(), key, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, driver.ErrReleaseNotFound
		}
		return nil, fmt.Errorf("get: failed to get %q: %w", key, err)
	}
	rel, err := decodeRecord(obj.Data["release"])
	if err != nil {
		return rel, fmt.Errorf("get: failed to decode data %q: %w", key, err)
	}
	rel.Labels = map[string]string{}
	for k, v := range obj.Labels {
		if !slices.Contains(driver.GetSystemLabels(), k) {
			rel.Labels[k] = v
		}
	}
	return rel, nil
}

// Query reads the revisions whose Secrets carry labels, as Helm's driver
// does (history, last, deployed), decoding them faster: a no-op re-run of
// argo-cd spent most of its inspect step growing a buffer while
// gunzipping 5 MB of JSON.
func (s releaseStore) Query(labels map[string]string) ([]ri.Releaser, error) {
	s.behind.flush()
	set := kblabels.Set{}
	for k, v := range labels {
		if errs := validation.IsValidLabelValue(v); len(errs) != 0 {
			return nil, fmt.Errorf("invalid label value: %q: %s", v, strings.Join(errs, "; "))
		}
		set[k] = v
	}
	list, err := s.impl.List(context.Background(), metav1.ListOptions{LabelSelector: set.AsSelector().String()})
	if err != nil {
		return nil, fmt.Errorf("query: failed to query with labels: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	var out []ri.Releaser
	for _, item := range list.Items {
		rel, err := decodeRecord(item.Data["release"])
		if err != nil {
			continue // as Helm's driver: an undecodable record is skipped
		}
		rel.Labels = item.Labels
		out = append(out, rel)
	}
	return out, nil
}

// history reads a release's revisions for deciding what to do, decoding
// only what the decision reads in full: the latest revision. Every other
// revision whose Secret carries Helm's version and status labels (Helm
// writes them from the record on every write) is a stub of its name,
// namespace, version, status and labels, never to be stored or acted on.
// A Secret without usable labels is decoded, and an undecodable record is
// skipped, as Helm's driver skips it; so is an undecodable latest, and
// the latest of the rest is decoded instead. The one difference from
// Helm's History: an older record whose labels are intact but whose data
// is not is counted by its labels instead of skipped.
//
// Helm's History decodes every revision: a release at its history limit
// (ten) of argo-cd meant ten 5 MB records decoded on every re-run.
func (s releaseStore) history(name string) ([]*release.Release, error) {
	s.behind.flush()
	if errs := validation.IsValidLabelValue(name); len(errs) != 0 {
		return nil, fmt.Errorf("invalid label value: %q: %s", name, strings.Join(errs, "; "))
	}
	selector := kblabels.Set{"name": name, "owner": "helm"}.AsSelector().String()
	list, err := s.impl.List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("query: failed to query with labels: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	type item struct {
		secret  *corev1.Secret
		version int // -1: no usable labels
	}
	items := make([]item, len(list.Items))
	for i := range list.Items {
		sec := &list.Items[i]
		v, err := strconv.Atoi(sec.Labels["version"])
		if err != nil || v <= 0 || sec.Labels["status"] == "" {
			v = -1
		}
		items[i] = item{sec, v}
	}
	// Unlabelled ones first (they are decoded whatever), then the newest.
	slices.SortFunc(items, func(a, b item) int {
		if (a.version < 0) != (b.version < 0) {
			if a.version < 0 {
				return -1
			}
			return 1
		}
		return b.version - a.version
	})
	var out []*release.Release
	decoded := false // the newest labelled record is decoded
	for _, it := range items {
		if decoded && it.version > 0 {
			out = append(out, &release.Release{
				Name: name, Namespace: it.secret.Namespace, Version: it.version,
				Info:   &release.Info{Status: rcommon.Status(it.secret.Labels["status"])},
				Labels: it.secret.Labels,
			})
			continue
		}
		rel, err := decodeRecord(it.secret.Data["release"])
		if err != nil {
			continue // as Helm's driver: an undecodable record is skipped
		}
		rel.Labels = it.secret.Labels
		out = append(out, rel)
		decoded = decoded || it.version > 0
	}
	return out, nil
}

// decodeRecord reverses encodeRecord (and Helm's encoding): base64, then
// gzip when the gzip magic is there (records from before Helm compressed
// them are plain JSON) into a buffer sized from gzip's length trailer,
// then JSON with encoding/json's semantics (jsonv1.DefaultOptionsV1) by
// the json v2 implementation, which decodes argo-cd's 5 MB record in
// 22 ms where encoding/json took 36-42 ms.
func decodeRecord(data []byte) (*release.Release, error) {
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Decode(raw, data)
	if err != nil {
		return nil, err
	}
	raw = raw[:n]
	var rel release.Release
	if len(raw) > 3 && raw[0] == 0x1f && raw[1] == 0x8b && raw[2] == 0x08 {
		r, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		defer r.Close()
		var buf bytes.Buffer
		if size := binary.LittleEndian.Uint32(raw[len(raw)-4:]); size < 64<<20 {
			buf.Grow(int(size) + bytes.MinRead)
		}
		if _, err := buf.ReadFrom(r); err != nil {
			return nil, err
		}
		raw = buf.Bytes()
	}
	if err := jsonv2.Unmarshal(raw, &rel, jsonv1.DefaultOptionsV1()); err != nil {
		return nil, err
	}
	return &rel, nil
}

// List reads the records a filter keeps, as Helm's driver does.
func (s releaseStore) List(filter func(ri.Releaser) bool) ([]ri.Releaser, error) {
	s.behind.flush()
	return s.Secrets.List(filter)
}

// Delete removes a stored revision, as Helm's driver does.
func (s releaseStore) Delete(key string) (ri.Releaser, error) {
	s.behind.flush()
	defer s.behind.forget(key)
	return s.Secrets.Delete(key)
}

// Create stores a new revision, as Helm's driver does.
func (s releaseStore) Create(key string, rls ri.Releaser) error {
	s.behind.flush()
	rel, err := asRelease(rls)
	if err != nil {
		return err
	}
	obj, err := s.object(key, rel, "createdAt")
	if err != nil {
		return err
	}
	if _, err := s.impl.Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return driver.ErrReleaseExists
		}
		return fmt.Errorf("create: failed to create: %w", err)
	}
	s.behind.wrote(key, rel.Info.Status)
	return nil
}

// Update replaces a stored revision, as Helm's driver does; a write Helm
// makes between hook resources goes out in the background.
func (s releaseStore) Update(key string, rls ri.Releaser) error {
	rel, err := asRelease(rls)
	if err != nil {
		return err
	}
	if s.behind.later(key, rel) {
		return nil
	}
	s.behind.flush()
	return s.update(key, rel)
}

func (s releaseStore) update(key string, rel *release.Release) error {
	obj, err := s.object(key, rel, "modifiedAt")
	if err != nil {
		return err
	}
	if _, err := s.impl.Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		s.behind.forget(key)
		return fmt.Errorf("update: failed to update: %w", err)
	}
	s.behind.wrote(key, rel.Info.Status)
	return nil
}

// object is the Secret Helm's driver would write for rel: the same name,
// type, labels (the release's own, then name, owner, status, version and
// the time label stamp) and data key.
func (s releaseStore) object(key string, rel *release.Release, stamp string) (*corev1.Secret, error) {
	if rel == nil || rel.Info == nil {
		return nil, errors.New("no release to store")
	}
	data, err := encodeRecord(rel)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range rel.Labels {
		labels[k] = v
	}
	labels[stamp] = strconv.FormatInt(time.Now().Unix(), 10)
	labels["name"] = rel.Name
	labels["owner"] = "helm"
	labels["status"] = rel.Info.Status.String()
	labels["version"] = strconv.Itoa(rel.Version)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key, Labels: labels},
		Type:       "helm.sh/release.v1",
		Data:       map[string][]byte{"release": data},
	}, nil
}

// encodeRecord encodes rel as Helm's driver stores it: base64 of gzip of
// JSON. It returns errReleaseTooLarge when even the best compression
// leaves it over maxReleaseRecord.
func encodeRecord(rel *release.Release) ([]byte, error) {
	data, err := encodeRecordLevel(rel, gzip.DefaultCompression)
	if err != nil || len(data) <= maxReleaseRecord {
		return data, err
	}
	if data, err = encodeRecordLevel(rel, gzip.BestCompression); err != nil || len(data) <= maxReleaseRecord {
		return data, err
	}
	files := 0
	if rel.Chart != nil {
		files = len(rel.Chart.Raw)
	}
	config, _ := json.Marshal(rel.Config)
	return nil, fmt.Errorf("%w: the record of release %s revision %d would be %d bytes (chart %d files, values %d bytes, manifest %d bytes), over the %d bytes a Secret holds: make the values or the chart smaller",
		errReleaseTooLarge, rel.Name, rel.Version, len(data), files, len(config), len(rel.Manifest), maxReleaseRecord)
}

// encodeRecordLevel streams rel's JSON through gzip and base64 into one
// buffer. json.Marshal would return a copy of the JSON (5 MB for argo-cd)
// and gzip and base64 would each fill a buffer of their own; in a fresh
// process every new megabyte costs page faults (3-5 ms per MB on the
// benchmark machine), and encoding was 120 ms of each 160 ms record write
// on the critical path. The encoder still builds the JSON in its pooled
// buffer, then writes it once; its trailing newline is whitespace that
// every JSON reader skips.
func encodeRecordLevel(rel *release.Release, level int) ([]byte, error) {
	var buf bytes.Buffer
	b64 := base64.NewEncoder(base64.StdEncoding, &buf)
	w, err := gzip.NewWriterLevel(b64, level)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(w).Encode(rel); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := b64.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
