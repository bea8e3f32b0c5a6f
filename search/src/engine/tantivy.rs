//! The embedded engine: a Tantivy index in the data dir.
//!
//! Tantivy has no geo queries. A radius search asks the inverted index for
//! the documents in the geohash cells covering the circle (each document
//! is indexed under its geohash prefixes of every length), then a
//! collector computes the exact haversine distance from the latitude and
//! longitude fast fields and drops what lies outside. The same collector
//! checks the timeslot and availability conditions exactly (a timeslot
//! must meet all of them at once, which separate multi-valued fields
//! cannot express), counts facets over every match, and keeps only the
//! requested page, so nothing is sorted beyond a page.
//!
//! Layout: `<root>/CURRENT` names the live index directory. A rebuild
//! fills a new directory beside it and swaps `CURRENT` when done; searches
//! in flight finish on the old one.

use crate::engine::Removal;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal,
    SegmentReader, TantivyDocument, Term,
};

use super::page::{Key, PageWindow};
use super::{
    Engine, EngineError, EngineFuture, Hit, Hits, IndexDoc, Position, Rebuild, Search, Slot,
    SlotFilter, SortKey, overlaps,
};
use crate::geo::{self, Point};
use crate::query::{Kind, Window};
use crate::store::RecordKind;

/// Geohash prefix lengths each located document is indexed under. A
/// query uses the longest length whose covering stays under
/// [`MAX_CELLS`] terms.
const GEO_PRECISIONS: std::ops::RangeInclusive<usize> = 1..=7;
const MAX_CELLS: usize = 48;
/// Indexed for every located document: "has coordinates".
const LOCATED: &str = "*";
/// Bumped when the schema changes; an index of another version is rebuilt.
const SCHEMA_VERSION: i64 = 3;

impl From<tantivy::TantivyError> for EngineError {
    fn from(e: tantivy::TantivyError) -> Self {
        EngineError::Index(e.to_string())
    }
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    geo: Field,
    lat: Field,
    lon: Field,
    title: Field,
    body: Field,
    event_type: Field,
    visibility: Field,
    is_virtual: Field,
    tags: Field,
    skills: Field,
    languages: Field,
    languages_spoken: Field,
    slot_start: Field,
    slots: Field,
    windows: Field,
    modified: Field,
    contacts: Field,
    source: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let num = NumericOptions::default();
        let keyword = STRING | FAST;
        let fields = Fields {
            id: b.add_u64_field("id", num.clone().set_indexed().set_fast()),
            kind: b.add_text_field("kind", STRING),
            geo: b.add_text_field("geo", STRING),
            lat: b.add_f64_field("lat", num.clone().set_fast()),
            lon: b.add_f64_field("lon", num.clone().set_fast()),
            title: b.add_text_field("title", TEXT),
            body: b.add_text_field("body", TEXT),
            event_type: b.add_text_field("event_type", keyword.clone()),
            visibility: b.add_text_field("visibility", STRING),
            is_virtual: b.add_text_field("is_virtual", keyword.clone()),
            tags: b.add_text_field("tags", keyword.clone()),
            skills: b.add_text_field("skills", keyword.clone()),
            languages: b.add_text_field("languages", STRING),
            languages_spoken: b.add_text_field("languages_spoken", keyword),
            slot_start: b.add_i64_field("slot_start", INDEXED | FAST),
            slots: b.add_i64_field("slots", FAST),
            windows: b.add_u64_field("windows", FAST),
            modified: b.add_i64_field("modified", INDEXED | FAST),
            contacts: b.add_text_field("contacts", STRING),
            source: b.add_text_field("source", STORED),
        };
        (b.build(), fields)
    }

    fn document(&self, d: &IndexDoc) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_u64(self.id, d.id as u64);
        doc.add_text(self.kind, d.kind.as_str());
        if let Some(p) = d.point {
            doc.add_text(self.geo, LOCATED);
            let hash = geo::geohash(p, *GEO_PRECISIONS.end());
            for n in GEO_PRECISIONS {
                doc.add_text(self.geo, &hash[..n]);
            }
            doc.add_f64(self.lat, p.lat);
            doc.add_f64(self.lon, p.lon);
        }
        doc.add_text(self.title, &d.title);
        doc.add_text(self.body, &d.body);
        if let Some(t) = d.event_type {
            doc.add_text(self.event_type, t);
        }
        if let Some(v) = d.visibility {
            doc.add_text(self.visibility, v);
        }
        if let Some(v) = d.is_virtual {
            doc.add_text(self.is_virtual, if v { "true" } else { "false" });
        }
        for t in &d.tags {
            doc.add_text(self.tags, t);
        }
        for s in &d.skills {
            doc.add_text(self.skills, s);
        }
        for l in &d.languages {
            doc.add_text(self.languages, l);
        }
        for l in &d.languages_spoken {
            doc.add_text(self.languages_spoken, l);
        }
        // Each timeslot and each window is one self-contained number, so
        // the collector checks them exactly from plain numeric columns
        // (no dictionary lookups), whatever order the values come back in.
        for slot in &d.slots {
            doc.add_i64(self.slot_start, slot.start);
            doc.add_i64(self.slots, pack_slot(slot));
        }
        for w in &d.windows {
            doc.add_u64(self.windows, pack_window(w));
        }
        doc.add_i64(self.modified, d.modified);
        for c in &d.contacts {
            doc.add_text(self.contacts, c);
        }
        doc.add_text(self.source, &d.source);
        doc
    }
}

/// A timeslot as one number: its start (unix seconds) and whether it is
/// full in the lowest bit.
fn pack_slot(s: &Slot) -> i64 {
    s.start.saturating_mul(2) | i64::from(s.full)
}

fn unpack_slot(v: i64) -> Slot {
    Slot {
        start: v >> 1,
        end: 0,
        full: v & 1 == 1,
    }
}

/// A window as one number: start and end as unsigned 32-bit unix seconds
/// (1970 to 2106, clamped).
fn pack_window(w: &Window) -> u64 {
    let clamp = |t: i64| t.clamp(0, u32::MAX as i64) as u64;
    (clamp(w.start) << 32) | clamp(w.end)
}

fn unpack_window(v: u64) -> Window {
    Window {
        start: (v >> 32) as i64,
        end: (v & 0xffff_ffff) as i64,
    }
}

/// One index directory, open for reading and writing.
struct Live {
    dir: PathBuf,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    position: Mutex<Position>,
}

impl Live {
    fn create(dir: PathBuf, writer_memory: usize) -> Result<Live, EngineError> {
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::Index(e.to_string()))?;
        let (schema, fields) = Fields::schema();
        let index = Index::create_in_dir(&dir, schema)?;
        Self::with_index(dir, index, fields, Position::default(), writer_memory)
    }

    fn open(dir: PathBuf, writer_memory: usize) -> Result<Live, EngineError> {
        let index = Index::open_in_dir(&dir)?;
        let (schema, fields) = Fields::schema();
        if index.schema() != schema {
            return Err(EngineError::Index("schema changed".into()));
        }
        let payload = index.load_metas()?.payload;
        let position = match payload.as_deref().map(parse_payload) {
            Some(Some((version, p))) if version == SCHEMA_VERSION => p,
            _ => return Err(EngineError::Index("no readable commit payload".into())),
        };
        Self::with_index(dir, index, fields, position, writer_memory)
    }

    fn with_index(
        dir: PathBuf,
        index: Index,
        fields: Fields,
        position: Position,
        writer_memory: usize,
    ) -> Result<Live, EngineError> {
        // Two indexing threads at most: the writer only works while there
        // are changes to apply, and the rest of the machine serves.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        let writer = index.writer_with_num_threads(threads, writer_memory)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Live {
            dir,
            reader,
            writer: Mutex::new(writer),
            fields,
            position: Mutex::new(position),
        })
    }

    /// Versions are not needed here: one follower writes each index, in
    /// log order.
    fn write(&self, upserts: &[IndexDoc], deletes: &[Removal]) -> Result<(), EngineError> {
        let writer = self.writer.lock().expect("writer lock");
        for id in deletes
            .iter()
            .map(|r| &r.id)
            .chain(upserts.iter().map(|d| &d.id))
        {
            writer.delete_term(Term::from_field_u64(self.fields.id, *id as u64));
        }
        for d in upserts {
            writer.add_document(self.fields.document(d))?;
        }
        Ok(())
    }

    fn commit(&self, position: Position) -> Result<(), EngineError> {
        {
            let mut writer = self.writer.lock().expect("writer lock");
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&format!(
                "{{\"version\":{SCHEMA_VERSION},\"seq\":{},\"generation\":{}}}",
                position.seq, position.generation
            ));
            prepared.commit()?;
        }
        self.reader.reload()?;
        *self.position.lock().expect("position lock") = position;
        Ok(())
    }
}

fn parse_payload(raw: &str) -> Option<(i64, Position)> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    Some((
        v.get("version")?.as_i64()?,
        Position {
            seq: v.get("seq")?.as_i64()?,
            generation: v.get("generation")?.as_i64()?,
        },
    ))
}

pub struct TantivyEngine {
    root: PathBuf,
    live: Arc<ArcSwap<Live>>,
    writer_memory: usize,
}

impl TantivyEngine {
    /// Opens the index under `root`, or creates an empty one (at position
    /// zero, so the follower replays the change log into it). An index
    /// that cannot be read is set aside the same way.
    pub fn open(root: &Path) -> Result<Self, EngineError> {
        let writer_memory = 128 << 20;
        std::fs::create_dir_all(root).map_err(|e| EngineError::Index(e.to_string()))?;
        let current = std::fs::read_to_string(root.join("CURRENT"))
            .ok()
            .map(|s| root.join(s.trim()));
        let live = match current.map(|dir| Live::open(dir, writer_memory)) {
            Some(Ok(live)) => live,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the search index cannot be used; rebuilding it from the store");
                fresh(root, writer_memory)?
            }
            None => fresh(root, writer_memory)?,
        };
        remove_others(root, &live.dir);
        Ok(Self {
            root: root.to_path_buf(),
            live: Arc::new(ArcSwap::from_pointee(live)),
            writer_memory,
        })
    }
}

fn fresh(root: &Path, writer_memory: usize) -> Result<Live, EngineError> {
    let dir = root.join(format!("index-{}", turnout_core::token::lower36(8)));
    let live = Live::create(dir, writer_memory)?;
    live.commit(Position::default())?;
    point_current(root, &live.dir)?;
    Ok(live)
}

fn point_current(root: &Path, dir: &Path) -> Result<(), EngineError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| EngineError::Index("bad index dir".into()))?;
    let tmp = root.join("CURRENT.tmp");
    std::fs::write(&tmp, name).map_err(|e| EngineError::Index(e.to_string()))?;
    std::fs::rename(&tmp, root.join("CURRENT")).map_err(|e| EngineError::Index(e.to_string()))
}

/// Removes index directories other than the live one: left by an earlier
/// rebuild, or by one that was interrupted.
fn remove_others(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let is_index = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("index-"));
        if is_index && p != keep {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

impl Engine for TantivyEngine {
    fn name(&self) -> &'static str {
        "tantivy"
    }

    fn position(&self) -> Position {
        *self.live.load().position.lock().expect("position lock")
    }

    fn apply(
        &self,
        upserts: Vec<IndexDoc>,
        deletes: Vec<Removal>,
        seq: i64,
    ) -> EngineFuture<'_, ()> {
        let live = self.live.load_full();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                live.write(&upserts, &deletes)?;
                let generation = live.position.lock().expect("position lock").generation;
                live.commit(Position { seq, generation })
            })
            .await
            .map_err(|e| EngineError::Index(e.to_string()))?
        })
    }

    fn search(&self, search: Search) -> EngineFuture<'_, Hits> {
        let live = self.live.load_full();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || run_search(&live, &search))
                .await
                .map_err(|e| EngineError::Index(e.to_string()))?
        })
    }

    fn rebuild(&self) -> Result<Box<dyn Rebuild>, EngineError> {
        let dir = self
            .root
            .join(format!("index-{}", turnout_core::token::lower36(8)));
        let live = Live::create(dir, (self.writer_memory * 4).max(256 << 20))?;
        Ok(Box::new(TantivyRebuild {
            root: self.root.clone(),
            target: Arc::clone(&self.live),
            live: Some(live),
            writer_memory: self.writer_memory,
        }))
    }

    fn check(&self) -> EngineFuture<'_, ()> {
        let open = self.live.load().dir.exists();
        Box::pin(async move {
            if open {
                Ok(())
            } else {
                Err(EngineError::Index("the index directory is gone".into()))
            }
        })
    }
}

struct TantivyRebuild {
    root: PathBuf,
    target: Arc<ArcSwap<Live>>,
    live: Option<Live>,
    writer_memory: usize,
}

impl Rebuild for TantivyRebuild {
    fn add(&mut self, docs: Vec<IndexDoc>) -> Result<(), EngineError> {
        self.live.as_ref().expect("not finished").write(&docs, &[])
    }

    fn apply(&mut self, upserts: Vec<IndexDoc>, deletes: Vec<Removal>) -> Result<(), EngineError> {
        self.live
            .as_ref()
            .expect("not finished")
            .write(&upserts, &deletes)
    }

    fn finish(mut self: Box<Self>, position: Position) -> Result<(), EngineError> {
        let built = self.live.take().expect("not finished");
        built.commit(position)?;
        let dir = built.dir.clone();
        drop(built);
        // Reopen with the everyday writer budget rather than the bulk one.
        let live = Live::open(dir, self.writer_memory)?;
        point_current(&self.root, &live.dir)?;
        let old = self.target.swap(Arc::new(live));
        let old_dir = old.dir.clone();
        drop(old);
        // Searches still running on the old index keep their open files
        // (unlinked files stay readable until closed).
        let _ = std::fs::remove_dir_all(old_dir);
        Ok(())
    }
}

impl Drop for TantivyRebuild {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            let dir = live.dir.clone();
            drop(live);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

// ---------------------------------------------------------------- queries

fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// Matches any of the values (an empty list is not a condition).
fn any_of<'a>(field: Field, values: impl IntoIterator<Item = &'a str>) -> Option<Box<dyn Query>> {
    let clauses: Vec<(Occur, Box<dyn Query>)> = values
        .into_iter()
        .map(|v| (Occur::Should, term(field, v)))
        .collect();
    (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
}

fn build_query(f: &Fields, s: &Search, index: &Index) -> Result<Box<dyn Query>, EngineError> {
    let q = &s.query;
    let mut must: Vec<Box<dyn Query>> = Vec::new();
    let kind = match q.kind {
        Kind::Events { .. } => RecordKind::Event,
        Kind::People { .. } => RecordKind::Person,
    };
    must.push(term(f.kind, kind.as_str()));
    match &q.kind {
        Kind::Events {
            event_types,
            is_virtual,
            visibility,
            ..
        } => {
            let vis: Vec<&str> = if visibility.is_empty() {
                vec!["PUBLIC"]
            } else {
                visibility.iter().map(|v| v.as_str()).collect()
            };
            must.extend(any_of(f.visibility, vis));
            must.extend(any_of(f.event_type, event_types.iter().map(|t| t.as_str())));
            if let Some(v) = is_virtual {
                must.push(term(f.is_virtual, if *v { "true" } else { "false" }));
            }
            if let Some(filter) = s.slot_filter() {
                let (from, until) = filter.start_range();
                if from > i64::MIN || until < i64::MAX {
                    must.push(Box::new(RangeQuery::new(
                        bound(from, i64::MIN, f.slot_start, Bound::Included),
                        bound(until, i64::MAX, f.slot_start, Bound::Excluded),
                    )));
                }
            }
        }
        Kind::People {
            skills,
            languages,
            contacts,
            ..
        } => {
            must.extend(any_of(f.skills, skills.iter().map(String::as_str)));
            must.extend(any_of(f.languages, languages.iter().map(|l| l.as_str())));
            must.extend(any_of(f.contacts, contacts.iter().map(String::as_str)));
        }
    }
    must.extend(any_of(f.tags, q.tags.iter().map(String::as_str)));
    if let Some(since) = q.updated_since {
        must.push(Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(f.modified, since)),
            Bound::Unbounded,
        )));
    }
    if let Some(center) = s.center {
        must.push(geo_prefilter(f.geo, center, s.radius_km));
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        must.into_iter().map(|q| (Occur::Must, q)).collect();
    if let Some(text) = &q.text {
        clauses.extend(text_query(f, text, index)?.map(|q| (Occur::Must, q)));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

fn bound(v: i64, open: i64, field: Field, make: fn(Term) -> Bound<Term>) -> Bound<Term> {
    if v == open {
        Bound::Unbounded
    } else {
        make(Term::from_field_i64(field, v))
    }
}

/// The geohash cells covering the circle, at the finest precision that
/// keeps the query small; a circle too large for that needs only "has a
/// location", and the exact check does the rest.
fn geo_prefilter(field: Field, center: Point, radius_km: f64) -> Box<dyn Query> {
    for precision in GEO_PRECISIONS.rev() {
        let (h, w) = geo::cell_size(precision);
        let estimate = ((2.0 * radius_km / h).ceil() + 1.0) * ((2.0 * radius_km / w).ceil() + 1.0);
        if estimate > (MAX_CELLS * 4) as f64 {
            continue;
        }
        let cells = geo::cells_covering(center, radius_km, precision);
        if cells.len() <= MAX_CELLS {
            return any_of(field, cells.iter().map(String::as_str))
                .unwrap_or_else(|| term(field, LOCATED));
        }
    }
    term(field, LOCATED)
}

/// Each word must appear in the title or the description, allowing one
/// typo in words of 4+ letters and two in words of 8+; exact matches and
/// title matches rank higher.
fn text_query(
    f: &Fields,
    text: &str,
    index: &Index,
) -> Result<impl Iterator<Item = Box<dyn Query>>, EngineError> {
    let mut tokenizer = index.tokenizer_for_field(f.title)?;
    let mut stream = tokenizer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        words.push(stream.token().text.clone());
    }
    let title = f.title;
    let body = f.body;
    Ok(words.into_iter().map(move |w| {
        let distance = match w.chars().count() {
            0..=3 => 0,
            4..=7 => 1,
            _ => 2,
        };
        let exact = |field| {
            TermQuery::new(
                Term::from_field_text(field, &w),
                IndexRecordOption::WithFreqs,
            )
        };
        let fuzzy = |field| FuzzyTermQuery::new(Term::from_field_text(field, &w), distance, true);
        let clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(exact(title)), 3.0)),
            ),
            (Occur::Should, Box::new(exact(body))),
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(fuzzy(title)), 1.5)),
            ),
            (Occur::Should, Box::new(fuzzy(body))),
        ];
        Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>
    }))
}

// -------------------------------------------------------------- collector

fn facet_fields(kind: &Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::Events { .. } => &[
            ("event_type", "event_type"),
            ("tags", "tags"),
            ("is_virtual", "is_virtual"),
        ],
        Kind::People { .. } => &[
            ("skills", "skills"),
            ("languages_spoken", "languages_spoken"),
            ("tags", "tags"),
        ],
    }
}

struct Exact {
    sort: SortKey,
    center: Option<Point>,
    radius_km: f64,
    slots: Option<SlotFilter>,
    window: Option<Window>,
    cursor: Option<super::Cursor>,
    per_page: usize,
    /// (facet name, fast field name)
    facets: Vec<(&'static str, &'static str)>,
}

struct Fruit {
    count: u64,
    page: PageWindow<DocAddress>,
    facets: BTreeMap<String, BTreeMap<String, u64>>,
}

/// The exact check, facet counts and page window as a Tantivy collector.
/// Its segment collectors must be `'static`, so they share the settings
/// through an `Arc`.
struct MatchCollector(Arc<Exact>);

impl Collector for MatchCollector {
    type Fruit = Fruit;
    type Child = SegmentChild;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentChild> {
        let ff = reader.fast_fields();
        let exact = Arc::clone(&self.0);
        let facet_columns = exact
            .facets
            .iter()
            .map(|(name, field)| Ok((*name, ff.str(field)?, HashMap::new())))
            .collect::<tantivy::Result<_>>()?;
        let page = PageWindow::new(exact.cursor.as_ref(), exact.per_page);
        Ok(SegmentChild {
            id: ff.u64("id")?,
            lat: ff.column_opt("lat")?,
            lon: ff.column_opt("lon")?,
            slots: ff.column_opt("slots")?,
            windows: ff.column_opt("windows")?,
            facet_columns,
            segment,
            fruit: Fruit {
                count: 0,
                page,
                facets: BTreeMap::new(),
            },
            exact,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.0.sort == SortKey::Relevance
    }

    fn merge_fruits(&self, fruits: Vec<Fruit>) -> tantivy::Result<Fruit> {
        let mut out = Fruit {
            count: 0,
            page: PageWindow::new(self.0.cursor.as_ref(), self.0.per_page),
            facets: BTreeMap::new(),
        };
        for f in fruits {
            out.count += f.count;
            out.page.merge(f.page);
            for (name, values) in f.facets {
                let into = out.facets.entry(name).or_default();
                for (v, n) in values {
                    *into.entry(v).or_default() += n;
                }
            }
        }
        Ok(out)
    }
}

/// One segment's share of the work: the columns it reads and what it found.
struct SegmentChild {
    exact: Arc<Exact>,
    segment: SegmentOrdinal,
    id: Column<u64>,
    lat: Option<Column<f64>>,
    lon: Option<Column<f64>>,
    slots: Option<Column<i64>>,
    windows: Option<Column<u64>>,
    facet_columns: Vec<(&'static str, Option<StrColumn>, HashMap<u64, u64>)>,
    fruit: Fruit,
}

impl SegmentCollector for SegmentChild {
    type Fruit = Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        let e = &*self.exact;
        let distance = match e.center {
            Some(center) => {
                let (Some(lat), Some(lon)) = (
                    self.lat.as_ref().and_then(|c| c.first(doc)),
                    self.lon.as_ref().and_then(|c| c.first(doc)),
                ) else {
                    return;
                };
                let d = geo::haversine_km(center, Point { lat, lon });
                if d > e.radius_km {
                    return;
                }
                Some(d)
            }
            None => None,
        };
        if let Some(filter) = &e.slots {
            let admitted = self.slots.as_ref().is_some_and(|col| {
                col.values_for_doc(doc)
                    .any(|v| filter.admits(&unpack_slot(v)))
            });
            if !admitted {
                return;
            }
        }
        if let Some(window) = e.window {
            let free = self.windows.as_ref().is_some_and(|col| {
                col.values_for_doc(doc)
                    .any(|v| overlaps(&[unpack_window(v)], window))
            });
            if !free {
                return;
            }
        }
        self.fruit.count += 1;
        for (_, col, counts) in &mut self.facet_columns {
            if let Some(col) = col {
                for ord in col.term_ords(doc) {
                    *counts.entry(ord).or_default() += 1;
                }
            }
        }
        let id = self.id.first(doc).unwrap_or_default() as i64;
        let primary = match e.sort {
            SortKey::Distance => distance.unwrap_or_default(),
            SortKey::Relevance => -(score as f64),
            SortKey::Id => 0.0,
        };
        let segment = self.segment;
        self.fruit
            .page
            .offer(Key { primary, id }, || DocAddress::new(segment, doc));
    }

    fn harvest(mut self) -> Fruit {
        let mut text = String::new();
        for (name, col, counts) in self.facet_columns {
            let into = self.fruit.facets.entry(name.to_string()).or_default();
            let Some(col) = col else { continue };
            for (ord, n) in counts {
                text.clear();
                if col.ord_to_str(ord, &mut text).unwrap_or(false) {
                    *into.entry(text.clone()).or_default() += n;
                }
            }
        }
        self.fruit
    }
}

fn run_search(live: &Live, s: &Search) -> Result<Hits, EngineError> {
    let searcher = live.reader.searcher();
    let query = build_query(&live.fields, s, searcher.index())?;
    let requested: Vec<&str> = s.query.facets.iter().map(String::as_str).collect();
    let exact = Arc::new(Exact {
        sort: s.sort(),
        center: s.center,
        radius_km: s.radius_km,
        slots: s.slot_filter(),
        window: s.window(),
        cursor: s.cursor,
        per_page: s.query.per_page,
        facets: facet_fields(&s.query.kind)
            .iter()
            .filter(|(name, _)| requested.contains(name))
            .copied()
            .collect(),
    });
    let fruit = searcher.search(&*query, &MatchCollector(exact))?;
    let (page, has_previous, has_next) = fruit.page.finish(s.query.per_page);
    let mut hits = Vec::with_capacity(page.len());
    for (key, addr) in page {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let source = doc
            .get_first(live.fields.source)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        hits.push(Hit {
            id: key.id,
            distance_km: (s.sort() == SortKey::Distance).then_some(key.primary),
            source,
            key,
        });
    }
    Ok(Hits {
        count: fruit.count,
        hits,
        has_previous,
        has_next,
        facets: fruit.facets,
    })
}
