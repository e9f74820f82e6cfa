package federate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/deploy"
)

// An UNLOAD whose run died leaves a version folder without a manifest. Prune deletes
// such a folder once a newer complete version of its table exists, and only when the
// table is published again; a table that never completes a version again, or that left
// the config, keeps it for ever. The cleanup sweeps the whole of Prefix instead, after
// the tables' runs, and deletes a folder only when all of these hold:
//   - it has no manifest: no subscriber ever reads it (subscribers load complete
//     versions only), checked in the listing and again just before the delete;
//   - its name is a version's (anything else under Prefix was put there by someone
//     else, and Versions refuses it by name);
//   - it was started (its name's time) longer ago than the grace, which is longer than
//     any run's statement, so no run still writes into it;
//   - no live lease holds its table's publishing (a run that may still write its
//     manifest), and no subscriber's unexpired loading marker names it.

// Abandoned is a version folder without a manifest that the cleanup found.
type Abandoned struct {
	Table   string        `json:"table"`
	Version string        `json:"version"`
	Age     time.Duration `json:"age"`
	Objects int           `json:"objects"` // deleted, when Deleted
	Deleted bool          `json:"deleted"`
	// Kept says why an abandoned folder old enough was not deleted.
	Kept string `json:"kept,omitempty"`
}

// CleanupResult is what one cleanup did: every folder without a manifest older than
// the grace (deleted or kept with the reason), and how many version folders are
// younger than the grace (not looked into: a run may still write them).
type CleanupResult struct {
	Abandoned []Abandoned `json:"abandoned,omitempty"`
	Young     int         `json:"young"`
}

// Deleted counts the folders deleted.
func (r CleanupResult) Deleted() int {
	n := 0
	for _, a := range r.Abandoned {
		if a.Deleted {
			n++
		}
	}
	return n
}

// folder is one version folder of the listing.
type folder struct {
	table, version string
	published      time.Time
}

// Cleanup deletes the abandoned version folders under Prefix: those without a
// manifest started longer than grace ago (see above). The listing goes folder by
// folder (versionFolders). A folder's failure is joined into the error, and the
// others go on.
func (p *Publisher) Cleanup(ctx context.Context, grace time.Duration) (CleanupResult, error) {
	var res CleanupResult
	now := p.now()
	folders, err := p.versionFolders(ctx)
	if err != nil {
		return res, err
	}
	var errs []error
	leases := p.Store.leases(p.now)
	liveLease := map[string]string{} // table: why it is held ("" when it is not)
	loading := map[string]map[string]bool{}
	for _, f := range folders {
		age := now.Sub(f.published)
		if age <= grace {
			res.Young++
			continue
		}
		switch has, err := p.Store.hasManifest(ctx, f.table, f.version); {
		case err != nil:
			errs = append(errs, err)
			continue
		case has:
			continue
		}
		a := Abandoned{Table: f.table, Version: f.version, Age: age.Truncate(time.Second)}
		// The table's publish lease: a live one is a run that may still write this
		// folder's manifest (one that resumes its UNLOAD).
		why, checked := liveLease[f.table]
		if !checked {
			l, found, err := leases.Read(ctx, deploy.FederatePublishLeaseKey(f.table))
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("read the publish lease of %s: %w", f.table, err))
				why = "its publish lease could not be read"
			case found && l.ExpiresAt.After(now):
				why = fmt.Sprintf("run %s holds the publishing of %s until %s", l.Run, f.table, l.ExpiresAt.Format(time.RFC3339))
			}
			liveLease[f.table] = why
		}
		if why == "" {
			held, ok := loading[f.table]
			if !ok {
				if held, err = p.Store.loadings(ctx, f.table, now); err != nil {
					errs = append(errs, err)
					held = nil
				}
				loading[f.table] = held
			}
			switch {
			case held == nil:
				why = "the loading markers of " + f.table + " could not be read"
			case held[f.version]:
				why = "a subscriber's loading marker names it"
			}
		}
		if why == "" {
			// The listing is a moment old: the manifest is looked up once more.
			var m Manifest
			switch found, err := s3obj.GetJSON(ctx, p.Store.S3, p.Store.Bucket, ManifestKey(f.table, f.version), &m); {
			case err != nil:
				errs = append(errs, err)
				why = "its manifest could not be looked up"
			case found:
				why = "its manifest was written meanwhile"
			}
		}
		if why != "" {
			a.Kept = why
			p.log().InfoContext(ctx, "abandoned version folder kept", "table", f.table, "version", f.version, "age", a.Age.String(), "reason", why)
			res.Abandoned = append(res.Abandoned, a)
			continue
		}
		n, err := s3obj.DeletePrefix(ctx, p.Store.S3, p.Store.Bucket, VersionDir(f.table, f.version))
		a.Objects = n
		if err != nil {
			errs = append(errs, fmt.Errorf("delete the abandoned version %s of %s: %w", f.version, f.table, err))
			a.Kept = "the delete failed: " + err.Error()
		} else {
			a.Deleted = true
			p.log().InfoContext(ctx, "abandoned version folder deleted", "table", f.table, "version", f.version, "age", a.Age.String(), "objects", n)
		}
		res.Abandoned = append(res.Abandoned, a)
	}
	return res, errors.Join(errs...)
}

// versionFolders lists every version folder under Prefix, level by level with a
// delimiter (schemas, tables, versions): a folder is one entry of its table's
// listing, whatever the number of its files ("Each rolled-up result counts as only
// one return against the MaxKeys value", S3 API ListObjectsV2), so the cleanup costs
// O(version folders), not O(files). The leases, the statement records, the loading
// markers and folders whose names are not versions' are left out. Whether a folder
// has a manifest is looked up by Cleanup, only for the folders older than the grace.
func (p *Publisher) versionFolders(ctx context.Context) ([]folder, error) {
	var out []folder
	schemas, err := p.Store.subfolders(ctx, Prefix)
	if err != nil {
		return nil, err
	}
	for _, schema := range schemas {
		if strings.HasPrefix(schema, ".") || strings.HasPrefix(schema, "_") { // .leases/, .statements/
			continue
		}
		tables, err := p.Store.subfolders(ctx, Prefix+schema+"/")
		if err != nil {
			return nil, err
		}
		for _, name := range tables {
			table := schema + "." + name
			versions, err := p.Store.subfolders(ctx, Prefix+schema+"/"+name+"/")
			if err != nil {
				return nil, err
			}
			for _, version := range versions {
				if strings.HasPrefix(version, "_") { // _loading/
					continue
				}
				v, err := ParseVersion(table, version)
				if err != nil {
					continue
				}
				out = append(out, folder{table: table, version: version, published: v.Published})
			}
		}
	}
	slices.SortFunc(out, func(a, b folder) int {
		return strings.Compare(VersionDir(a.table, a.version), VersionDir(b.table, b.version))
	})
	return out, nil
}

// subfolders lists the names of the folders directly under prefix (ending in "/"):
// ListObjectsV2 with the delimiter "/", its CommonPrefixes.
func (s Store) subfolders(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	pages := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if name != "" {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// hasManifest says version of table has its manifest: a listing of the manifest's
// key alone (s3:ListBucket on federator/, no object read).
func (s Store) hasManifest(ctx context.Context, table, version string) (bool, error) {
	key := ManifestKey(table, version)
	out, err := s.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(key), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, fmt.Errorf("look up s3://%s/%s: %w", s.Bucket, key, err)
	}
	return len(out.Contents) > 0 && aws.ToString(out.Contents[0].Key) == key, nil
}
