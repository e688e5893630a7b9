CREATE TABLE "album_photos" (
	"album_id" uuid,
	"photo_id" uuid,
	"added_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"position" integer,
	CONSTRAINT "album_photos_album_id_photo_id_pk" PRIMARY KEY("album_id","photo_id")
);
--> statement-breakpoint
CREATE TABLE "albums" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"updated_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"cover_photo_id" uuid
);
--> statement-breakpoint
CREATE TABLE "application_settings" (
	"id" integer PRIMARY KEY NOT NULL,
	"aspect_ratios" jsonb DEFAULT '[{"name": "Square (1:1)", "width": 1024, "height": 1024}, {"name": "Portrait (2:3)", "width": 832, "height": 1216}, {"name": "Landscape (3:2)", "width": 1216, "height": 832}]'::jsonb,
	"default_steps" integer DEFAULT 30 NOT NULL,
	"default_cfg_scale" numeric(4, 2) DEFAULT 7.5 NOT NULL,
	"default_scheduler" text DEFAULT 'euler' NOT NULL,
	"default_batch_size" integer DEFAULT 4 NOT NULL,
	"backend_mode" text DEFAULT 'local' NOT NULL,
	"local_backend_url" text DEFAULT 'http://localhost:9090' NOT NULL,
	"remote_backend_url" text,
	"runpod_api_key" text,
	"runpod_pod_type" text DEFAULT 'NVIDIA A5000',
	"idle_timeout_minutes" integer DEFAULT 30,
	"is_connected" boolean DEFAULT false,
	"last_connected_at" timestamp with time zone,
	"api_version" text,
	"current_session_id" text,
	"current_session_start" timestamp with time zone,
	"current_session_cost" numeric(10, 4) DEFAULT 0,
	"lifetime_usage_hours" numeric(10, 2) DEFAULT 0,
	"lifetime_cost" numeric(10, 2) DEFAULT 0,
	"max_retrieval_attempts" integer DEFAULT 5,
	"retrieval_retry_delay" integer DEFAULT 60,
	"parallel_retrievals" integer DEFAULT 3,
	"settings_json" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	CONSTRAINT "singleton_settings" CHECK ("application_settings"."id" = 1),
	CONSTRAINT "check_backend_mode" CHECK ("application_settings"."backend_mode" IN ('local', 'remote'))
);
--> statement-breakpoint
CREATE TABLE "generation_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"started_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"completed_at" timestamp with time zone,
	"entry_type" text NOT NULL,
	"source_image_id" uuid,
	"status" text DEFAULT 'active' NOT NULL,
	"workflow_id" text,
	"board_id" text,
	"source_invoke_image_name" text,
	CONSTRAINT "generation_sessions_entry_type_check" CHECK ("generation_sessions"."entry_type" IN ('scratch', 'refinement')),
	CONSTRAINT "generation_sessions_status_check" CHECK ("generation_sessions"."status" IN ('active', 'completed', 'abandoned'))
);
--> statement-breakpoint
CREATE TABLE "generation_steps" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"session_id" uuid NOT NULL,
	"parent_id" uuid,
	"prompt" text NOT NULL,
	"negative_prompt" text,
	"parameters" jsonb NOT NULL,
	"model_key" text NOT NULL,
	"model_hash" text NOT NULL,
	"model_name" text,
	"batch_id" text NOT NULL,
	"correlation_id" text,
	"selected_image_id" uuid,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"completed_at" timestamp with time zone,
	"position" integer NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"error_message" text,
	"batch_size" integer DEFAULT 1,
	"images_retrieved" integer DEFAULT 0,
	"images_failed" integer DEFAULT 0,
	"item_ids" jsonb,
	"progress" jsonb,
	"init_image_name" text,
	CONSTRAINT "generation_steps_status_check" CHECK ("generation_steps"."status" IN ('pending', 'processing', 'completed', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"key" text NOT NULL,
	"scope" text NOT NULL,
	"resource_id" uuid NOT NULL,
	"request_hash" text,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	CONSTRAINT "idempotency_keys_scope_key_pk" PRIMARY KEY("scope","key")
);
--> statement-breakpoint
CREATE TABLE "models" (
	"key" text PRIMARY KEY NOT NULL,
	"hash" text NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"base" text NOT NULL,
	"description" text,
	"default_width" integer,
	"default_height" integer,
	"default_steps" integer,
	"default_cfg_scale" numeric(5, 2),
	"default_scheduler" text,
	"compatible_with_base" text,
	"is_default_vae" boolean DEFAULT false,
	"cached_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"is_favorite" boolean DEFAULT false,
	"last_used_at" timestamp with time zone,
	"default_vae_key" text,
	"missing_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "photos" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"filename" text NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"file_size" bigint NOT NULL,
	"mime_type" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"is_generated" boolean DEFAULT false,
	"generation_prompt" text,
	"generation_negative_prompt" text,
	"generation_params" jsonb,
	"source_image_id" uuid,
	"invoke_id" text,
	"model_key" text,
	"model_hash" text,
	"model_name" text,
	"last_accessed_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	"local_storage_path" text,
	"local_thumbnail_path" text,
	"retrieval_status" text DEFAULT 'completed',
	"retrieval_attempts" integer DEFAULT 0,
	"last_retrieval_attempt" timestamp with time zone,
	"retrieval_error" text,
	"file_hash" text,
	"original_filename" text,
	"purged_at" timestamp with time zone,
	CONSTRAINT "photos_filename_unique" UNIQUE("filename"),
	CONSTRAINT "photos_retrieval_status_check" CHECK ("photos"."retrieval_status" IN ('pending', 'processing', 'completed', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "pod_sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"workflow_id" text NOT NULL,
	"pod_id" text,
	"gpu_type_id" text,
	"cost_per_hr" numeric(10, 4),
	"cost_source" text,
	"state" text DEFAULT 'creating' NOT NULL,
	"started_at" timestamp with time zone,
	"ready_at" timestamp with time zone,
	"stopped_at" timestamp with time zone,
	"cost_usd" numeric(10, 4) DEFAULT 0,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"last_error" text,
	CONSTRAINT "pod_sessions_workflow_id_unique" UNIQUE("workflow_id")
);
--> statement-breakpoint
CREATE TABLE "prompt_templates" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"prompt_text" text NOT NULL,
	"negative_prompt" text,
	"category" text,
	"is_favorite" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"updated_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);
--> statement-breakpoint
CREATE TABLE "shared_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"photo_id" uuid,
	"album_id" uuid,
	"access_key" text NOT NULL,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	"last_accessed_at" timestamp with time zone,
	CONSTRAINT "shared_links_access_key_unique" UNIQUE("access_key"),
	CONSTRAINT "share_target_check" CHECK (("shared_links"."photo_id" IS NOT NULL AND "shared_links"."album_id" IS NULL) OR ("shared_links"."photo_id" IS NULL AND "shared_links"."album_id" IS NOT NULL))
);
--> statement-breakpoint
CREATE TABLE "step_alternatives" (
	"step_id" uuid NOT NULL,
	"image_id" uuid NOT NULL,
	"selected" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
	CONSTRAINT "step_alternatives_step_id_image_id_pk" PRIMARY KEY("step_id","image_id")
);
--> statement-breakpoint
ALTER TABLE "album_photos" ADD CONSTRAINT "album_photos_album_id_albums_id_fk" FOREIGN KEY ("album_id") REFERENCES "public"."albums"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "album_photos" ADD CONSTRAINT "album_photos_photo_id_photos_id_fk" FOREIGN KEY ("photo_id") REFERENCES "public"."photos"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "albums" ADD CONSTRAINT "albums_cover_photo_id_photos_id_fk" FOREIGN KEY ("cover_photo_id") REFERENCES "public"."photos"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_sessions" ADD CONSTRAINT "generation_sessions_source_image_id_photos_id_fk" FOREIGN KEY ("source_image_id") REFERENCES "public"."photos"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_steps" ADD CONSTRAINT "generation_steps_session_id_generation_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."generation_sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_steps" ADD CONSTRAINT "generation_steps_parent_id_generation_steps_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."generation_steps"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_steps" ADD CONSTRAINT "generation_steps_selected_image_id_photos_id_fk" FOREIGN KEY ("selected_image_id") REFERENCES "public"."photos"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "photos" ADD CONSTRAINT "photos_source_image_id_photos_id_fk" FOREIGN KEY ("source_image_id") REFERENCES "public"."photos"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "shared_links" ADD CONSTRAINT "shared_links_photo_id_photos_id_fk" FOREIGN KEY ("photo_id") REFERENCES "public"."photos"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "shared_links" ADD CONSTRAINT "shared_links_album_id_albums_id_fk" FOREIGN KEY ("album_id") REFERENCES "public"."albums"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "step_alternatives" ADD CONSTRAINT "step_alternatives_step_id_generation_steps_id_fk" FOREIGN KEY ("step_id") REFERENCES "public"."generation_steps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "step_alternatives" ADD CONSTRAINT "step_alternatives_image_id_photos_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."photos"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idx_album_photos_position" ON "album_photos" USING btree ("album_id","position");--> statement-breakpoint
CREATE INDEX "idx_generation_sessions_status" ON "generation_sessions" USING btree ("status");--> statement-breakpoint
CREATE INDEX "idx_generation_steps_session" ON "generation_steps" USING btree ("session_id","position");--> statement-breakpoint
CREATE INDEX "idx_generation_steps_parent" ON "generation_steps" USING btree ("parent_id");--> statement-breakpoint
CREATE INDEX "idx_generation_steps_status" ON "generation_steps" USING btree ("status") WHERE "generation_steps"."status" IN ('pending', 'processing');--> statement-breakpoint
CREATE UNIQUE INDEX "idx_generation_steps_batch_id" ON "generation_steps" USING btree ("batch_id");--> statement-breakpoint
CREATE INDEX "idx_generation_steps_correlation_id" ON "generation_steps" USING btree ("correlation_id") WHERE "generation_steps"."correlation_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_models_type" ON "models" USING btree ("type");--> statement-breakpoint
CREATE INDEX "idx_models_base" ON "models" USING btree ("base");--> statement-breakpoint
CREATE INDEX "idx_models_compatible_base" ON "models" USING btree ("compatible_with_base") WHERE "models"."compatible_with_base" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_models_favorite" ON "models" USING btree ("is_favorite") WHERE "models"."is_favorite" = TRUE;--> statement-breakpoint
CREATE INDEX "idx_photos_retrieval_status" ON "photos" USING btree ("retrieval_status") WHERE "photos"."retrieval_status" != 'completed';--> statement-breakpoint
CREATE INDEX "idx_photos_deleted_at" ON "photos" USING btree ("deleted_at") WHERE "photos"."deleted_at" IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "idx_photos_invoke_id" ON "photos" USING btree ("invoke_id") WHERE "photos"."invoke_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_photos_generation_prompt" ON "photos" USING gin (to_tsvector('english', "generation_prompt"));--> statement-breakpoint
CREATE UNIQUE INDEX "idx_photos_file_hash" ON "photos" USING btree ("file_hash") WHERE "photos"."file_hash" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_photos_created_at_id" ON "photos" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "idx_pod_sessions_state" ON "pod_sessions" USING btree ("state");--> statement-breakpoint
CREATE INDEX "idx_prompt_templates_favorite" ON "prompt_templates" USING btree ("is_favorite") WHERE "prompt_templates"."is_favorite" = TRUE;--> statement-breakpoint
CREATE INDEX "idx_prompt_templates_category" ON "prompt_templates" USING btree ("category");--> statement-breakpoint
CREATE INDEX "idx_shared_links_access_key" ON "shared_links" USING btree ("access_key");--> statement-breakpoint
CREATE INDEX "idx_shared_links_expires_at" ON "shared_links" USING btree ("expires_at") WHERE "shared_links"."expires_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_step_alternatives_step" ON "step_alternatives" USING btree ("step_id");--> statement-breakpoint
CREATE INDEX "idx_step_alternatives_selected" ON "step_alternatives" USING btree ("step_id","selected") WHERE "step_alternatives"."selected" = TRUE;--> statement-breakpoint
COMMENT ON TABLE "photos" IS 'Stores metadata for all photos, both uploaded and generated';--> statement-breakpoint
COMMENT ON COLUMN "photos"."retrieval_status" IS 'Status of image retrieval from remote backend';--> statement-breakpoint
COMMENT ON COLUMN "photos"."local_storage_path" IS 'Path to the locally stored image file';--> statement-breakpoint
COMMENT ON COLUMN "photos"."invoke_id" IS 'Original image name/ID from InvokeAI';--> statement-breakpoint
COMMENT ON COLUMN "photos"."model_key" IS 'UUID key of the model used for generation';--> statement-breakpoint
COMMENT ON COLUMN "photos"."model_hash" IS 'Blake3 hash of the model used for generation';--> statement-breakpoint
COMMENT ON TABLE "generation_sessions" IS 'Represents complete generation workflows';--> statement-breakpoint
COMMENT ON COLUMN "generation_sessions"."entry_type" IS 'How the session was started: from scratch or refining an existing image';--> statement-breakpoint
COMMENT ON COLUMN "generation_sessions"."status" IS 'Current status of the generation session';--> statement-breakpoint
COMMENT ON TABLE "generation_steps" IS 'Individual steps within a generation session';--> statement-breakpoint
COMMENT ON COLUMN "generation_steps"."parent_id" IS 'Previous step in the linear history, null for initial step';--> statement-breakpoint
COMMENT ON COLUMN "generation_steps"."position" IS 'Order within the session for display purposes';--> statement-breakpoint
COMMENT ON COLUMN "generation_steps"."model_key" IS 'UUID key of the model used for this step';--> statement-breakpoint
COMMENT ON COLUMN "generation_steps"."model_hash" IS 'Blake3 hash of the model used for this step';--> statement-breakpoint
COMMENT ON COLUMN "generation_steps"."batch_id" IS 'ID of the batch in InvokeAI';--> statement-breakpoint
COMMENT ON COLUMN "generation_steps"."correlation_id" IS 'Optional ID used to correlate images with this step';--> statement-breakpoint
COMMENT ON TABLE "step_alternatives" IS 'Generated image alternatives for each step';--> statement-breakpoint
COMMENT ON COLUMN "step_alternatives"."selected" IS 'Whether this is the chosen alternative that continues the timeline';--> statement-breakpoint
COMMENT ON TABLE "models" IS 'Cache of available models from InvokeAI';--> statement-breakpoint
COMMENT ON COLUMN "models"."key" IS 'UUID key of the model in InvokeAI';--> statement-breakpoint
COMMENT ON COLUMN "models"."hash" IS 'Blake3 hash of the model, required for generation requests';--> statement-breakpoint
COMMENT ON COLUMN "models"."compatible_with_base" IS 'For VAEs, which model base they are compatible with';--> statement-breakpoint
COMMENT ON COLUMN "models"."is_default_vae" IS 'Whether this VAE is the default for its compatible base';--> statement-breakpoint
COMMENT ON TABLE "application_settings" IS 'Singleton table for application-wide settings';--> statement-breakpoint
COMMENT ON COLUMN "application_settings"."aspect_ratios" IS 'Predefined aspect ratios for generation';--> statement-breakpoint
COMMENT ON COLUMN "application_settings"."idle_timeout_minutes" IS 'Minutes of inactivity before automatically stopping remote pod';--> statement-breakpoint
COMMENT ON COLUMN "application_settings"."current_session_cost" IS 'Estimated cost of current RunPod session';
