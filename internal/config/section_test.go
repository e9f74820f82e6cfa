package config

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/snaplake/snaplake/internal/deploy"
)

// brokenFederate is a file whose ingest section is valid and whose federate section
// is wrong in every way the loader checks.
const brokenFederate = source + `federate:
  tables: nope
  subscribers: [{name: 1}]
  keepVersions: many
`

// TestEachCapabilityStandsAlone: a struct of sections without a capability's section
// skips that section (neither decoded nor validated), so a mistake there does not
// refuse the others; a top-level key that is no capability's section is still a typo
// at its line.
func TestEachCapabilityStandsAlone(t *testing.T) {
	var only struct {
		Ingest *shapeIngest `yaml:"ingest,omitempty" json:"ingest,omitempty"`
	}
	if err := Parse("snaplake.yaml", []byte(brokenFederate), &only); err != nil || only.Ingest == nil || only.Ingest.Source.Database != "shop" {
		t.Errorf("ingest alone: %v, %+v; want the ingest section despite the federate one", err, only.Ingest)
	}
	in, err := ParseSection[shapeIngest]("snaplake.yaml", []byte(brokenFederate), deploy.SectionIngest)
	if err != nil || in.Source.Instance != "shop-db" {
		t.Errorf("ParseSection(ingest) = %+v, %v; want the ingest section", in, err)
	}

	// The whole file (every section) still sees the federate mistakes.
	if err := Parse("snaplake.yaml", []byte(brokenFederate), new(shapeFile)); err == nil || !strings.Contains(err.Error(), "federate.tables: expected a list") {
		t.Errorf("the whole file: %v, want the federate section's problems", err)
	}

	// The ingest run does not validate the federate section, nor the other way round.
	invalidIngest := "ingest:\n  source: {instance: a, database: b}\n  timeZone: invalid\nfederate: {tables: [{table: t}]}\n"
	if fed, err := ParseSection[shapeFederate]("snaplake.yaml", []byte(invalidIngest), deploy.SectionFederate); err != nil || len(fed.Tables) != 1 {
		t.Errorf("ParseSection(federate) = %+v, %v; want the federate section despite the ingest one", fed, err)
	}
	_, err = ParseSection[shapeIngest]("snaplake.yaml", []byte(invalidIngest), deploy.SectionIngest)
	if got := problems(t, err); !slices.Equal(got, []string{"snaplake.yaml:3:3: ingest.timeZone: is invalid"}) {
		t.Errorf("ParseSection(ingest) problems %q, want its own Validate's", got)
	}

	// A typo is nobody's section.
	_, err = ParseSection[shapeIngest]("snaplake.yaml", []byte(source+"ingets: {}\n"), deploy.SectionIngest)
	want := []string{"snaplake.yaml:5:1: ingets: unknown section (known: export, ingest, federate, archive)"}
	if got := problems(t, err); !slices.Equal(got, want) {
		t.Errorf("a typo: %q, want %q", got, want)
	}
	// So is a syntax error anywhere, and a duplicate section (the YAML spec requires
	// a mapping's keys to be unique: the file means nothing for sure).
	for _, doc := range []string{source + "federate: [\n", source + "federate: {}\nfederate: {}\n"} {
		if _, err := ParseSection[shapeIngest]("snaplake.yaml", []byte(doc), deploy.SectionIngest); err == nil {
			t.Errorf("ParseSection(ingest) of %q: no error", doc)
		}
	}
}

func TestParseSectionWithoutTheSection(t *testing.T) {
	_, err := ParseSection[shapeFederate]("snaplake.yaml", []byte(source), deploy.SectionFederate)
	var none *NoSectionError
	if !errors.As(err, &none) || none.Section != "federate" || err.Error() != "snaplake.yaml: no federate section" {
		t.Errorf("err = %v, want a *NoSectionError for federate", err)
	}
}

func TestLoadSection(t *testing.T) {
	if _, err := LoadSection[shapeIngest]("testdata/absent.yaml", deploy.SectionIngest); err == nil || !strings.HasPrefix(err.Error(), "testdata/absent.yaml: cannot read:") {
		t.Errorf("a missing file: %v", err)
	}
}

// fakeS3 serves one object, or NoSuchKey, or fails every read.
type fakeS3 struct {
	body *string
	err  error
}

func (f fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	switch {
	case f.err != nil:
		return nil, f.err
	case f.body == nil:
		return nil, &s3types.NoSuchKey{Message: aws.String("The specified key does not exist.")}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(*f.body))}, nil
}

func (f fakeS3) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, nil
}

// TestSectionFromS3 is how a run takes its section: what it cannot use is one
// *RefusedError naming the file, line and field; a failed read is not one.
func TestSectionFromS3(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		api      fakeS3
		refused  string // the RefusedError's message; "" when none
		missing  bool
		noneWant bool
	}{
		{name: "valid", api: fakeS3{body: aws.String(brokenFederate)}},
		{name: "missing", api: fakeS3{}, missing: true,
			refused: "the config is refused, nothing was changed: s3://lake/config/snaplake.yaml does not exist: upload the config there (snaplake config validate checks it first)"},
		{name: "invalid", api: fakeS3{body: aws.String(source + "  timeZone: invalid\n")},
			refused: "the config is refused, nothing was changed: s3://lake/config/snaplake.yaml:5:3: ingest.timeZone: is invalid"},
		{name: "without the section", api: fakeS3{body: aws.String("federate: {tables: []}\n")}, noneWant: true,
			refused: "the config is refused, nothing was changed: s3://lake/config/snaplake.yaml: no ingest section"},
		{name: "a failed read", api: fakeS3{err: errors.New("connection reset")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := SectionFromS3[shapeIngest](ctx, tt.api, "lake", deploy.SectionIngest)
			var refused *RefusedError
			var missing *MissingError
			var none *NoSectionError
			switch {
			case tt.name == "valid" && (err != nil || in.Source.Database != "shop"):
				t.Errorf("SectionFromS3 = %+v, %v", in, err)
			case tt.name == "a failed read" && (err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "connection reset")):
				t.Errorf("a failed read: %v, want the read's error, not a RefusedError", err)
			case tt.refused != "" && (!errors.As(err, &refused) || err.Error() != tt.refused):
				t.Errorf("err = %v, want a RefusedError %q", err, tt.refused)
			case errors.As(err, &missing) != tt.missing, errors.As(err, &none) != tt.noneWant:
				t.Errorf("err = %v: MissingError %v, NoSectionError %v", err, errors.As(err, &missing), errors.As(err, &none))
			}
		})
	}
	// FromS3 reads a struct of sections the same way.
	var f shapeFile
	var refused *RefusedError
	if err := FromS3(ctx, fakeS3{body: aws.String(brokenFederate)}, "lake", &f); !errors.As(err, &refused) || !strings.Contains(err.Error(), "s3://lake/config/snaplake.yaml:6:11: federate.tables") {
		t.Errorf("FromS3 of the whole file: %v, want a RefusedError at the federate section's line", err)
	}
}

// locatedSection records the locator config hands it.
type locatedSection struct {
	Name   string `yaml:"name" json:"name"`
	locate sectionLocator
}

type sectionLocator func(path []string) (string, int, int)

func (s *locatedSection) SetLocator(l sectionLocator) { s.locate = l }

// TestParseSectionHandsTheLocator: a section read alone learns where its fields are,
// as one of a struct of sections does.
func TestParseSectionHandsTheLocator(t *testing.T) {
	s, err := ParseSection[locatedSection]("snaplake.yaml", []byte("ingest:\n  name: x\n"), deploy.SectionIngest)
	if err != nil || s.locate == nil {
		t.Fatalf("ParseSection = %+v, %v; want a located section", s, err)
	}
	if file, line, col := s.locate([]string{"name"}); file != "snaplake.yaml" || line != 2 || col != 3 {
		t.Errorf("locate(name) = %s:%d:%d, want snaplake.yaml:2:3", file, line, col)
	}
}
