/* The ceiling under `gapwatch bench store`: the same rows (20 observations per report, 4 agents,
 * the same subject mix) inserted by a tight C loop straight into SQLite, no Swift, no HTTP, no decode.
 * Usage: sqlite_insert A|D|F REPORTS_PER_TRANSACTION REPORTS
 *   A  the collector's schema: WITHOUT ROWID, PRIMARY KEY (stream_id, seq), index (subject_id, observed_at)
 *   D  rowid table + the subject index, no dedup key (dedup would need a per-stream high-water mark)
 *   F  schema A without the subject index (no time-range query by subject) */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  int variant=argv[1][0]; int txn=atoi(argv[2]); int N=atoi(argv[3]);
  char path[64]; const char*dir=getenv("TMPDIR")?getenv("TMPDIR"):"/tmp"; snprintf(path,64,"%s/ceiling-%c.db",dir,variant); unlink(path); char w[80]; snprintf(w,80,"%s-wal",path); unlink(w);
  sqlite3*db; sqlite3_open(path,&db);
  sqlite3_exec(db,"PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA wal_autocheckpoint=10000;",0,0,0);
  const char*cols="observed_at INTEGER NOT NULL, received_at INTEGER NOT NULL, kind INTEGER NOT NULL, status TEXT, part TEXT, num INTEGER, code INTEGER, at1 INTEGER, at2 INTEGER, text TEXT, target TEXT";
  char sql[1024];
  if(variant=='A') snprintf(sql,1024,"CREATE TABLE o (stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, subject_id INTEGER NOT NULL, %s, PRIMARY KEY(stream_id, seq)) WITHOUT ROWID; CREATE INDEX bys ON o(subject_id, observed_at);",cols);
  else if(variant=='D') snprintf(sql,1024,"CREATE TABLE o (id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, subject_id INTEGER NOT NULL, %s); CREATE INDEX bys ON o(subject_id, observed_at);",cols);
  else snprintf(sql,1024,"CREATE TABLE o (stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, subject_id INTEGER NOT NULL, %s, PRIMARY KEY(stream_id, seq)) WITHOUT ROWID;",cols);
  sqlite3_exec(db,sql,0,0,0);
  sqlite3_stmt*s; sqlite3_prepare_v2(db,"INSERT OR IGNORE INTO o (stream_id, seq, subject_id, observed_at, received_at, kind, status, part, num, code, at1, at2, text, target) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",-1,&s,0);
  long long seqs[4]={0}; long long base=1780000000000LL;
  double t0=now();
  for(int t=0;t<N/txn;t++){
    sqlite3_exec(db,"BEGIN",0,0,0);
    for(int r=0;r<txn;r++){int a=(t*txn+r)%4;
      for(int i=0;i<20;i++){long long q=++seqs[a]; int subj=a*100+((i%5==2||i%5==4)?i:(i%5)*10+i%3);
        sqlite3_reset(s); sqlite3_bind_int64(s,1,a); sqlite3_bind_int64(s,2,q); sqlite3_bind_int64(s,3,subj);
        sqlite3_bind_int64(s,4,base+q*1000); sqlite3_bind_int64(s,5,base); sqlite3_bind_int64(s,6,i%5);
        sqlite3_bind_text(s,7,"ok",-1,SQLITE_TRANSIENT); sqlite3_bind_text(s,8,"2026-01-11",-1,SQLITE_TRANSIENT);
        sqlite3_bind_int64(s,9,282); sqlite3_bind_int64(s,10,0); sqlite3_bind_null(s,11); sqlite3_bind_null(s,12);
        sqlite3_bind_text(s,13,"processed 282 player records",-1,SQLITE_TRANSIENT);
        if(i%5==4) sqlite3_bind_text(s,14,"https://nba-scrapers.example.run.app/execute",-1,SQLITE_TRANSIENT); else sqlite3_bind_null(s,14);
        if(sqlite3_step(s)!=SQLITE_DONE){fprintf(stderr,"%s\n",sqlite3_errmsg(db));return 1;}
      }}
    sqlite3_exec(db,"COMMIT",0,0,0);
  }
  double dt=now()-t0; sqlite3_close(db); unlink(path); unlink(w); printf("C %c txn=%d: %.0f reports/s, %.0f obs/s\n",variant,txn,N/dt,N*20/dt);
}
