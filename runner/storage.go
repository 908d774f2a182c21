package runner

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	ri "helm.sh/helm/v4/pkg/release"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// maxReleaseRecord is the most a release Secret's data may hold.
const maxReleaseRecord = 1 << 20

// errReleaseTooLarge is a release whose record cannot be stored: bad input
// (values or chart too large), refused before anything is created.
var errReleaseTooLarge = errors.New("release too large")

// sizeGuard refuses release records the API server would refuse, with
// their size, before the Helm SDK writes anything: it stores a release
// before it creates the release's resources.
type sizeGuard struct{ driver.Driver }

func (g sizeGuard) Create(key string, rls ri.Releaser) error {
	if err := checkRecordSize(rls); err != nil {
		return err
	}
	return g.Driver.Create(key, rls)
}

func (g sizeGuard) Update(key string, rls ri.Releaser) error {
	if err := checkRecordSize(rls); err != nil {
		return err
	}
	return g.Driver.Update(key, rls)
}

// checkRecordSize encodes the release as the Secrets driver does (JSON,
// gzip at best compression, base64) when it could be too large, and
// refuses it when it is.
func checkRecordSize(rls ri.Releaser) error {
	rel, err := asRelease(rls)
	if err != nil || rel == nil {
		return err
	}
	data, err := json.Marshal(rel)
	if err != nil {
		return err
	}
	// gzip seldom grows data and base64 adds a third: smaller JSON fits.
	if len(data)*4/3+1024 < maxReleaseRecord {
		return nil
	}
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(data)
	if err := w.Close(); err != nil {
		return err
	}
	size := base64.StdEncoding.EncodedLen(buf.Len())
	if size <= maxReleaseRecord {
		return nil
	}
	files := 0
	if rel.Chart != nil {
		files = len(rel.Chart.Raw)
	}
	config, _ := json.Marshal(rel.Config)
	return fmt.Errorf("%w: the record of release %s revision %d would be %d bytes (chart %d files, values %d bytes, manifest %d bytes), over the %d bytes a Secret holds: make the values or the chart smaller",
		errReleaseTooLarge, rel.Name, rel.Version, size, files, len(config), len(rel.Manifest), maxReleaseRecord)
}
